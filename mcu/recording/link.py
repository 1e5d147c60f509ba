"""A live stream's link to its ingest server: connect, live, retry with backoff, stopped; and the
stream key kept out of logs and answers.

Sans-I/O: the manager reports what its writer thread did (`connected`, `failed`) and asks
`attempt_due(now)`; the delays double from `retry_initial` to `retry_max`, and a link that stayed
up for `stable_after` seconds starts again from the shortest delay.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SCHEMES = ("rtmp", "rtmps")  # the PyAV wheel's FFmpeg has no SRT protocol (ProtocolNotFoundError)
REDACTED = "***"


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    RETRYING = "retrying"
    STOPPED = "stopped"


@dataclass
class StreamLink:
    retry_initial: float = 1.0
    retry_max: float = 30.0
    stable_after: float = 30.0
    state: LinkState = LinkState.CONNECTING
    attempts: int = 0  # connection attempts, the first one included
    failures: int = 0  # consecutive, since the last stable link
    reconnects: int = 0  # times the link came up again after a failure
    next_attempt: float = 0.0
    live_since: float | None = None
    last_error: str = ""
    history: list[tuple[float, str]] = field(default_factory=list)  # (when, state) of the changes

    def _to(self, state: LinkState, now: float) -> None:
        if state is not self.state:
            self.state = state
            self.history.append((now, state.value))
            del self.history[:-50]

    def attempt_due(self, now: float) -> bool:
        """True once when a (re)connection should be started now; the caller starts it."""
        if self.state is LinkState.RETRYING and now >= self.next_attempt:
            self._to(LinkState.CONNECTING, now)
            self.attempts += 1
            return True
        return False

    def started(self, now: float) -> None:
        """The first attempt was started."""
        self.attempts = 1
        self.history.append((now, LinkState.CONNECTING.value))

    def connected(self, now: float) -> None:
        if self.state is LinkState.CONNECTING:
            if self.failures:
                self.reconnects += 1
            self._to(LinkState.LIVE, now)
            self.live_since = now

    def failed(self, now: float, error: str) -> float:
        """The connection failed or dropped; returns the delay before the next attempt."""
        if self.state is LinkState.STOPPED:
            return 0.0
        if self.live_since is not None and now - self.live_since >= self.stable_after:
            self.failures = 0
        self.live_since = None
        delay = min(self.retry_max, self.retry_initial * 2 ** self.failures)
        self.failures += 1
        self.last_error = error
        self.next_attempt = now + delay
        self._to(LinkState.RETRYING, now)
        return delay

    def stop(self, now: float) -> None:
        self._to(LinkState.STOPPED, now)
        self.live_since = None


def check_stream_url(url: str) -> str | None:
    """Why `url` cannot be pushed to, or None."""
    parts = urlsplit(url)
    if parts.scheme == "srt":
        return "is SRT, which this MCU's FFmpeg (the PyAV wheel's) cannot send; use rtmp:// or rtmps://"
    if parts.scheme not in SCHEMES:
        return f"must start with {', '.join(s + '://' for s in SCHEMES)} (got {parts.scheme or 'no scheme'})"
    if not parts.hostname:
        return "has no host; write rtmp://host[:port]/app/key"
    if len([p for p in parts.path.split("/") if p]) < 2:
        return "needs an application and a stream key: rtmp://host[:port]/app/key"
    return None


def redact_url(url: str) -> str:
    """The URL without its secrets: the stream key (the path after the application), passwords and
    query strings (some ingests put tokens there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{REDACTED}@{host}"
    segments = [p for p in parts.path.split("/") if p]
    path = "/" + segments[0] + "/" + REDACTED if len(segments) >= 2 else parts.path
    query = "?" + REDACTED if parts.query else ""
    return f"{parts.scheme}://{host}{path}{query}"


def redact_text(text: str, url: str) -> str:
    """`text` (an error message that may quote the URL) with the URL's secrets replaced."""
    parts = urlsplit(url)
    secrets = [url, parts.path, parts.query, parts.password or ""]
    secrets += [p for p in parts.path.split("/")[2:] if p]
    out = text.replace(url, redact_url(url))
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        if secret != url:
            out = out.replace(secret, REDACTED)
    return re.sub(r"\*\*\*(/\*\*\*)+", REDACTED, out)
