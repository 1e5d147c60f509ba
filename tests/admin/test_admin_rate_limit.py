"""The admin API's rate limit per client address: token buckets, 429 with Retry-After."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from admin_helpers import TOKEN, RunningMcu, write_admin_config

from mcu.admin.http import AdminHttp, RateLimit

# ------------------------------------------------------------------ the bucket, no sockets


def test_bucket_takes_the_burst_then_the_rate() -> None:
    limit = RateLimit(rate=2.0, burst=3)
    assert [limit.take("a", 10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a", 10.0) == pytest.approx(0.5)  # one token comes back in 1/rate s
    assert limit.take("b", 10.0) == 0.0  # another address has its own bucket
    assert limit.take("a", 10.25) == pytest.approx(0.25)  # refused asks take nothing
    assert limit.take("a", 10.5) == 0.0
    assert limit.take("a", 10.5) > 0.0
    assert [limit.take("a", 100.0) for _ in range(4)][-1] > 0.0  # never more than the burst


def test_bucket_forgets_idle_clients_past_its_size() -> None:
    limit = RateLimit(rate=10.0, burst=2, max_clients=3)
    for i in range(3):
        limit.take(f"c{i}", 0.0)
    limit.take("busy", 5.0)  # c0..c2 are full again by now: forgotten
    assert limit.clients == 1
    with pytest.raises(ValueError):
        RateLimit(rate=0.0, burst=1)


# ------------------------------------------------------------------ AdminHttp on a socket


async def _get(port: int, source: str, path: str = "/openapi.json",
               token: str | None = TOKEN) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    # Connection: close, as the API is keep-alive now and this reads the answer to the end
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


def test_429_with_retry_after_and_a_json_error_past_the_burst() -> None:
    async def main() -> None:
        now = [100.0]
        http = AdminHttp(None, TOKEN, requests_per_second=0.5, burst=2,  # type: ignore[arg-type]
                         clock=lambda: now[0])
        server = await http.listen("127.0.0.1", 0)
        port = server.port
        try:
            assert [(await _get(port, "127.0.0.1"))[0] for _ in range(2)] == [200, 200]
            status, headers, body = await _get(port, "127.0.0.1")
            assert status == 429 and headers["Retry-After"] == "2"
            assert headers["Content-Type"].startswith("application/json")
            doc = json.loads(body)
            assert "too many requests from 127.0.0.1" in doc["error"]
            assert doc["details"] == {"retry_after": 2}
            # the limit comes before the token check: guessing tokens is just as slow
            assert (await _get(port, "127.0.0.1", token="wrong"))[0] == 429
            assert (await _get(port, "127.0.0.2"))[0] == 200  # another client is not held up
            assert http.refusals["admin_rate"] == 2
            now[0] += 2.0
            assert (await _get(port, "127.0.0.1"))[0] == 200
            assert (await _get(port, "127.0.0.1", token="wrong"))[0] == 429
        finally:
            await server.close()

    asyncio.run(main())


def test_running_mcu_refuses_a_flood_from_one_address_with_the_default_limits(tmp_path: Path) -> None:
    with RunningMcu(write_admin_config(tmp_path)) as mcu:
        assert mcu.admin is not None and mcu.admin.http is not None
        http = mcu.admin.http
        port = mcu.admin.port
        request = (f"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   f"Authorization: Bearer {TOKEN}\r\n\r\n")
        # 80 requests at once, on their own connections: twice the default burst of 40
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(80)]
        try:
            for sock in socks:
                sock.sendall(request.encode())
            answers = []
            for sock in socks:
                raw = b""
                while chunk := sock.recv(65536):
                    raw += chunk
                answers.append(raw)
        finally:
            for sock in socks:
                sock.close()
        statuses = [int(a.split(b" ", 2)[1]) for a in answers]
        assert set(statuses) == {200, 429}
        assert 40 <= statuses.count(200) < 80
        refused = next(a for a in answers if a.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"))
        assert b"\r\nRetry-After: 1\r\n" in refused
        assert json.loads(refused.partition(b"\r\n\r\n")[2])["error"].startswith("too many requests")
        assert http.refusals["admin_rate"] == statuses.count(429)
