"""Console sessions, sans-I/O: an admin token is exchanged for a session id kept in a cookie.

Time comes in as `now`. Sessions live in memory: a restart of the MCU logs every operator out.
Each session has its own CSRF token, which the page sends back in a header on every state
change; a cross-site form can carry the cookie (were SameSite ignored) but never that header.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

COOKIE_NAME = "mcu_session"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_TTL = 8 * 3600.0  # [admin] session_hours
MAX_SESSIONS = 256  # past this the oldest session is dropped (a login loop cannot fill memory)


@dataclass(frozen=True)
class Session:
    session_id: str
    csrf_token: str
    created: float
    expires: float
    who: str  # what the log calls this operator
    tenant: str | None = None  # opened with a tenant's token: the console sees its rooms only
    token_name: str = ""  # which of the tenant's tokens (a token removed on reload ends it)


class SessionStore:
    def __init__(self, ttl: float = DEFAULT_TTL, max_sessions: int = MAX_SESSIONS):
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, now: float, who: str = "", tenant: str | None = None, token_name: str = "") -> Session:
        self._expire(now)
        while len(self._sessions) >= self.max_sessions:
            oldest = min(self._sessions.values(), key=lambda s: s.created)
            del self._sessions[oldest.session_id]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now + self.ttl, who,
                          tenant, token_name)
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str, now: float) -> Session | None:
        """The live session of `session_id`, or None when unknown or expired (then forgotten)."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if now >= session.expires:
            del self._sessions[session_id]
            return None
        return session

    def drop(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    def _expire(self, now: float) -> None:
        for sid in [s.session_id for s in self._sessions.values() if now >= s.expires]:
            del self._sessions[sid]


def session_cookie(session: Session, now: float, secure: bool) -> str:
    """The Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict, expiring with the session."""
    max_age = max(0, round(session.expires - now))  # round: now + ttl - now is not always ttl in floats
    return (f"{COOKIE_NAME}={session.session_id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


def clear_cookie(secure: bool) -> str:
    return f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
