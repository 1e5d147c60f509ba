"""A real MCU (admin API + console) with synthetic sites calling in, and a headless Chromium
driven by selenium whose network reaches nothing but the MCU."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import threading
import tomllib
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "admin"))
from admin_helpers import TOKEN, RunningMcu, api_json, write_admin_config
from helpers import wait_for

from mcu.synthetic import SyntheticEndpoint

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "tests" / "console" / "results"  # screenshots (git-ignored)
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TONE_PRESENT = 0.01  # a synthetic site sends its tone at ~0.09 (Goertzel power)
TONE_ABSENT = 0.0005


def roster_from_conf(count: int) -> list[tuple[str, str]]:
    """(id, Vietnamese name) of the first `count` sites of the shipped conf/sites.toml."""
    doc = tomllib.loads((REPO / "conf" / "sites.toml").read_text(encoding="utf-8"))
    return [(s["id"], s["name"]) for s in doc["sites"][:count]]


class Sites:
    """Synthetic sites on their own event loop in a thread; site k calls from sip:k@127.0.0.1."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="sites-loop")
        self.thread.start()
        self.endpoints: list[SyntheticEndpoint] = []

    def run(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return fn()
        return self.run(call())

    def call(self, uri: str, numbers_and_names: list[tuple[int, str]], talking: set[int],
             video: bool = True) -> list[SyntheticEndpoint]:
        for number, name in numbers_and_names:
            options: dict[str, Any] = {"audio_codec": "PCMU", "talking": number in talking,
                                       "decode_video": False}
            if video:
                options.update(video_codec="H264", width=320, height=180, fps=5)
            else:
                options["video_codec"] = None
            ep = SyntheticEndpoint(number, name, **options)
            self.run(ep.call(uri))
            self.endpoints.append(ep)
        return self.endpoints

    def heard(self, listener: SyntheticEndpoint, talker: SyntheticEndpoint, seconds: float = 0.6) -> float:
        return float(self.on_loop(lambda: listener.heard_tone(talker.tone_hz, seconds)))

    def close(self) -> None:
        async def close_all() -> None:
            for ep in self.endpoints:
                await ep.close()
        try:
            self.run(close_all(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def meeting_config(tmp: Path, count: int) -> tuple[Path, list[tuple[str, str]]]:
    """An admin-enabled config whose roster is the first `count` + 1 sites of conf/sites.toml:
    site k (from 1) calls from sip:k@127.0.0.1; the last one never calls (missing)."""
    roster = roster_from_conf(count + 1)
    sites = [(sid, f"sip:{k}@127.0.0.1", name) for k, (sid, name) in enumerate(roster, start=1)]
    return write_admin_config(tmp, sites=sites), roster


def chrome(tmp: Path, allowed_origin: str) -> Any:
    """Headless Chromium (Debian's) through selenium; every host but 127.0.0.1 resolves to
    nothing and any proxied request goes to a closed port, so the page can only reach the MCU."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(f"{path} not found: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    profile = tmp / "chrome-profile"
    profile.mkdir(exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--disable-dev-shm-usage", "--window-size=1366,768",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(CHROMEDRIVER, log_output=str(tmp / "chromedriver.log"))
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:  # the browser could not start: say why, from its own log
        log = (tmp / "chromedriver.log").read_text(errors="replace")[-2000:] if (tmp / "chromedriver.log").exists() else ""
        pytest.fail(f"headless Chromium did not start: {exc}\n{log}")
    # the page itself gets exactly an operator's 1366x768 screen, whatever the window adds
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    driver.implicitly_wait(0)
    requested_urls(driver)  # forget the browser's own start page
    driver.allowed_origin = allowed_origin  # type: ignore[attr-defined]
    return driver


BROWSER_INTERNAL = ("chrome://", "chrome-untrusted://", "about:", "data:", "blob:")


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked the network for since the last call (Chrome's performance log),
    less the browser's own pages and inline data, which never reach the network."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            params = message["params"]
            url = params["request"]["url"] if "request" in params else params["url"]
            if not url.startswith(BROWSER_INTERNAL):
                urls.append(url)
    return urls


def screenshot(driver: Any, name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def login(driver: Any, url: str, token: str = TOKEN) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    wait_for(lambda: driver.find_element(By.ID, "view-login").is_displayed(), 10, "the login form")
    driver.find_element(By.ID, "login-token").send_keys(token)
    driver.find_element(By.ID, "login-operator").send_keys("test operator")
    driver.find_element(By.ID, "login-submit").click()


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def api_with_cookie(url: str, method: str, path: str, cookie: str, body: Any = None,
                    headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
    request = urllib.request.Request(url + path, data=data, method=method, headers={
        "Content-Type": "application/json", "Cookie": cookie, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def need_browser_tools() -> None:
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        pytest.fail("chromium and chromium-driver are needed: apt-get install chromium chromium-driver")


__all__ = ["TOKEN", "RunningMcu", "Sites", "api_json", "wait_for", "write_admin_config"]
