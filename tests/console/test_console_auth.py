"""Sessions, principals and CSRF without sockets; then the login, cookie and refusals over HTTP."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

import pytest
from console_helpers import (
    TOKEN,
    RunningMcu,
    api_json,
    api_with_cookie,
    wait_for,
    write_admin_config,
)

from mcu.admin.auth import VIA_BEARER, VIA_SESSION, check_csrf, check_origin, resolve_principal
from mcu.admin.errors import Forbidden, Unauthorized
from mcu.admin.sessions import COOKIE_NAME, SessionStore, session_cookie

# ------------------------------------------------------------------ sans-I/O


def test_sessions_expire_and_are_bounded() -> None:
    store = SessionStore(ttl=100.0, max_sessions=3)
    first = store.create(0.0, "a")
    assert store.get(first.session_id, 99.9) == first
    assert store.get(first.session_id, 100.0) is None  # expired: forgotten
    assert store.get(first.session_id, 0.0) is None
    made = [store.create(10.0 + i) for i in range(5)]
    assert len(store) == 3 and store.get(made[0].session_id, 20.0) is None  # the oldest went first
    assert store.get(made[-1].session_id, 20.0) is not None
    assert made[-1].csrf_token != made[-1].session_id
    assert store.drop(made[-1].session_id) and not store.drop(made[-1].session_id)
    with pytest.raises(ValueError):
        SessionStore(ttl=0)


def test_cookie_is_httponly_samesite_strict_and_expires_with_the_session() -> None:
    session = SessionStore(ttl=3600.0).create(50.0)
    cookie = session_cookie(session, 50.0, secure=False)
    assert cookie.startswith(f"{COOKIE_NAME}={session.session_id};")
    assert {"HttpOnly", "SameSite=Strict", "Max-Age=3600", "Path=/"} <= {p.strip() for p in cookie.split(";")}
    assert "Secure" not in cookie and session_cookie(session, 50.0, secure=True).endswith("; Secure")


def test_principal_from_bearer_or_session_and_csrf() -> None:
    store = SessionStore(ttl=60.0)
    session = store.create(0.0)
    assert resolve_principal(f"Bearer {TOKEN}", None, TOKEN, store, 1.0).via == VIA_BEARER
    principal = resolve_principal(None, session.session_id, TOKEN, store, 1.0)
    assert principal.via == VIA_SESSION and principal.session == session
    # a header wins over a cookie, and is judged as before
    with pytest.raises(Unauthorized, match="wrong token"):
        resolve_principal("Bearer nope", session.session_id, TOKEN, store, 1.0)
    with pytest.raises(Unauthorized, match="missing Authorization header"):
        resolve_principal(None, None, TOKEN, store, 1.0)
    with pytest.raises(Unauthorized, match="log in again"):
        resolve_principal(None, "forged", TOKEN, store, 1.0)
    with pytest.raises(Unauthorized, match="log in again"):
        resolve_principal(None, session.session_id, TOKEN, store, 61.0)
    # CSRF: only state changes through a session need it
    check_csrf(principal, "GET", None)
    check_csrf(resolve_principal(f"Bearer {TOKEN}", None, TOKEN, store, 1.0), "POST", None)
    with pytest.raises(Forbidden, match="missing X-CSRF-Token"):
        check_csrf(principal, "POST", None)
    with pytest.raises(Forbidden, match="wrong X-CSRF-Token"):
        check_csrf(principal, "POST", session.csrf_token + "x")
    check_csrf(principal, "POST", session.csrf_token)


def test_origin_check() -> None:
    check_origin(None, "127.0.0.1:8088")
    check_origin("http://127.0.0.1:8088", "127.0.0.1:8088")
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        with pytest.raises(Forbidden):
            check_origin(origin, "127.0.0.1:8088")


# ------------------------------------------------------------------ over HTTP


@pytest.fixture
def mcu(tmp_path: Path):  # type: ignore[no-untyped-def]
    with RunningMcu(write_admin_config(tmp_path)) as running:
        yield running


def _login(url: str, token: str = TOKEN, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url + "/console/login", data=json.dumps({"token": token}).encode(),
                                     method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers.get("Set-Cookie", "")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("Set-Cookie", "")


def test_login_gives_a_session_that_acts_only_with_its_csrf_token(mcu: RunningMcu) -> None:
    status, doc, cookie = _login(mcu.url, TOKEN + "x")
    assert status == 401 and doc["error"] == "wrong token" and cookie == ""
    status, doc, _ = _login(mcu.url, TOKEN, {"Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in doc["error"]
    status, doc, set_cookie = _login(mcu.url)
    assert status == 200 and doc["result"]["language"] == "vi"
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Max-Age=28800" in set_cookie
    cookie = set_cookie.split(";")[0]
    csrf = doc["result"]["csrf"]
    # reads with the cookie alone
    status, doc = api_with_cookie(mcu.url, "GET", "/rooms", cookie)
    assert status == 200 and [r["number"] for r in doc["result"]] == ["4100", "4200"]
    # a change without (or with a wrong) CSRF token is refused and changes nothing
    assert api_with_cookie(mcu.url, "POST", "/rooms/4100/lock", cookie)[0] == 403
    status, doc = api_with_cookie(mcu.url, "POST", "/rooms/4100/lock", cookie, headers={"X-CSRF-Token": "x"})
    assert status == 403 and "CSRF" in doc["error"]
    assert mcu.on_loop(lambda: mcu.room("4100").locked) is False
    assert mcu.admin.http.refusals["admin_forbidden"] == 3  # type: ignore[union-attr]  # with the Origin one
    status, doc = api_with_cookie(mcu.url, "POST", "/rooms/4100/lock", cookie, headers={"X-CSRF-Token": csrf})
    assert status == 200 and mcu.on_loop(lambda: mcu.room("4100").locked) is True
    # the bearer API is as it was: no CSRF token needed, the cookie plays no part
    assert api_json(mcu.url, "POST", "/rooms/4100/unlock")[0] == 200
    # logout needs the CSRF token too, then the cookie is worthless
    assert api_with_cookie(mcu.url, "POST", "/console/logout", cookie)[0] == 403
    assert api_with_cookie(mcu.url, "POST", "/console/logout", cookie, headers={"X-CSRF-Token": csrf})[0] == 200
    status, doc = api_with_cookie(mcu.url, "GET", "/rooms", cookie)
    assert status == 401 and "log in again" in doc["error"]


def test_console_pages_are_served_by_the_mcu_and_refuse_bad_input(mcu: RunningMcu) -> None:
    with urllib.request.urlopen(mcu.url + "/", timeout=10) as response:  # / redirects to the console
        page = response.read().decode()
        assert response.url.endswith("/console/") and response.headers["Content-Security-Policy"]
    assert 'lang="vi"' in page and "/console/static/app.js" in page and "http" not in page.split("<body>")[1]
    for name in ("app.js", "i18n.js", "style.css"):
        with urllib.request.urlopen(f"{mcu.url}/console/static/{name}", timeout=10) as response:
            assert response.status == 200 and "charset=utf-8" in response.headers["Content-Type"]
    for path, status in (("/console/static/../auth.py", 404), ("/console/static/nope.js", 404),
                         ("/console/nothing", 404), ("/console/session", 401), ("/console/live", 401)):
        assert api_with_cookie(mcu.url, "GET", path, "")[0] == status, path
    for raw in (b"{", b"[]", b'{"token": 5}'):
        request = urllib.request.Request(mcu.url + "/console/login", data=raw, method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
    assert mcu.admin is not None and mcu.admin.http is not None and len(mcu.admin.http.sessions) == 0


def test_a_request_aiohttp_cannot_parse_is_a_400_and_one_counted_line(mcu: RunningMcu,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    import socket

    caplog.set_level(logging.DEBUG)
    port = mcu.admin.port  # type: ignore[union-attr]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /rooms HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.0 400 ")), answer[:80]
    wait_for(lambda: mcu.admin.http.refusals["admin_bad_http"] == 1, 5,  # type: ignore[union-attr]
             "the bad request counted")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r for r in caplog.records if r.getMessage() == "admin.bad_http"]
    assert api_json(mcu.url, "GET", "/rooms")[0] == 200  # and the API goes on


def test_the_shipped_config_says_vietnamese_and_english_can_be_chosen(tmp_path: Path) -> None:
    from mcu.config import load_config
    from mcu.tomlfile import ConfigError

    shipped = load_config(Path(__file__).resolve().parents[2] / "conf" / "mcu.toml").mcu.admin
    assert (shipped.console_language, shipped.session_hours) == ("vi", 8.0)
    path = write_admin_config(tmp_path)
    path.write_text(path.read_text() + 'console_language = "en"\nsession_hours = 0.5\n', encoding="utf-8")
    with RunningMcu(path) as mcu:
        with urllib.request.urlopen(mcu.url + "/console/", timeout=10) as response:
            assert '<html lang="en" data-language="en">' in response.read().decode()
        assert "Max-Age=1800" in _login(mcu.url)[2]
    path.write_text(path.read_text().replace('"en"', '"fr"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="console_language"):
        load_config(path)


def test_max_age_is_the_session_length_whatever_the_clock_reads() -> None:
    store = SessionStore(ttl=28800.0)
    for now in (0.0, 1e6 + 0.1, 123456.789, 9.87654321e5):
        session = store.create(now)
        assert "Max-Age=28800;" in session_cookie(session, now, secure=False)
