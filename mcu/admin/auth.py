"""The admin API's bearer tokens, console sessions, and where it may listen.

Every request's credentials become one `Principal` in `resolve_principal`: the provider (the
[admin] token, or a console session opened with it) or one tenant (a token of conf/tenants.toml);
the HTTP layer hands that value to the commands (mcu.admin.scope decides what a tenant may see)
and decides nothing else about who may do what.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mcu.admin.errors import AdminStartError, Forbidden, Unauthorized
from mcu.admin.sessions import CSRF_HEADER, Session, SessionStore
from mcu.tenants import PROVIDER_LABEL, Tenant, Tenants

MIN_TOKEN_LENGTH = 16
PROVIDER_TOKEN_NAME = "provider"  # the [admin] token's name in the audit log
TOKEN_HINT = "generate one with `openssl rand -hex 32 > conf/admin.token` and set [admin] token_file"


def load_token(token: str, token_file: str, config_dir: Path) -> str:
    """The token from config or from the file it names (relative to the config's folder)."""
    if not token and token_file:
        path = Path(token_file)
        if not path.is_absolute():
            path = config_dir / path
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AdminStartError(f"admin API not started: cannot read admin.token_file {path}: "
                                  f"{exc.strerror}") from None
    if not token:
        raise AdminStartError(f"admin API not started: no token configured; {TOKEN_HINT}")
    if len(token) < MIN_TOKEN_LENGTH:
        raise AdminStartError(f"admin API not started: the token is shorter than {MIN_TOKEN_LENGTH} "
                              f"characters; {TOKEN_HINT}")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tls: bool) -> None:
    if not tls and not is_loopback(host):
        raise AdminStartError(f"admin API not started: admin.host = {host!r} is not a loopback address and "
                              f"TLS is not configured, so the token would cross the network in clear; bind "
                              f"to 127.0.0.1 (and reach it over SSH) or give admin.tls_cert and admin.tls_key")


def check_authorization(header: str | None, token: str) -> None:
    """Raise Unauthorized unless `header` is `Bearer <token>` (compared in constant time)."""
    if not header:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    if not hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token.encode()):
        raise Unauthorized("wrong token")


VIA_BEARER = "bearer"
VIA_SESSION = "session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the admin token itself, a console session opened with it, or a
    tenant's token (sees and changes its own rooms only)."""

    via: str  # VIA_BEARER or VIA_SESSION
    session: Session | None = None
    token_name: str = PROVIDER_TOKEN_NAME  # for the audit log
    tenant: Tenant | None = None  # None: the provider

    @property
    def name(self) -> str:
        if self.tenant is not None:
            return f"tenant:{self.tenant.name}:{self.token_name}"
        return "token" if self.session is None else f"session:{self.session.session_id[:8]}"

    @property
    def is_provider(self) -> bool:
        return self.tenant is None

    @property
    def tenant_name(self) -> str:
        return self.tenant.name if self.tenant is not None else PROVIDER_LABEL

    def sees_room(self, room: str, tenants: Tenants) -> bool:
        """A tenant sees the rooms it owns; the provider sees all."""
        return self.tenant is None or self.tenant.owns(room) and tenants.owner_name(room) == self.tenant.name


PROVIDER_PRINCIPAL = Principal(VIA_BEARER)


def principal_for(header: str | None, provider_token: str, tenants: Tenants | None) -> Principal:
    """The principal of a request's Authorization header: the provider's token (config [admin]) or a
    tenant's (conf/tenants.toml); raise Unauthorized otherwise. Tokens are compared in constant
    time (tenant tokens by their SHA-256)."""
    if not header:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, given = header.partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    if hmac.compare_digest(given.encode("utf-8", "surrogateescape"), provider_token.encode()):
        return PROVIDER_PRINCIPAL
    found = tenants.token_owner(given) if tenants is not None else None
    if found is None:
        raise Unauthorized("wrong token")
    tenant, token = found
    return Principal(VIA_BEARER, token_name=token.name, tenant=tenant)


def resolve_principal(authorization: str | None, session_id: str | None, token: str,
                      sessions: SessionStore | None, now: float, tenants: Tenants | None = None) -> Principal:
    """The principal of a request: its bearer header when it has one (the API's clients: the
    provider's token or a tenant's), else its console session cookie (the scope of the token it
    was opened with). Raise Unauthorized with what to do otherwise."""
    if authorization or not session_id or sessions is None:
        return principal_for(authorization, token, tenants)
    session = sessions.get(session_id, now)
    if session is None:
        raise Unauthorized("the console session has expired or is unknown; log in again with the admin token")
    if session.tenant is None:
        return Principal(VIA_SESSION, session)
    tenant = tenants.by_name.get(session.tenant) if tenants is not None else None
    if tenant is None or not any(t.name == session.token_name for t in tenant.tokens):
        sessions.drop(session.session_id)  # its tenant or token was removed from tenants.toml
        raise Unauthorized("the token this console session was opened with is no longer configured; log in again")
    return Principal(VIA_SESSION, session, token_name=session.token_name, tenant=tenant)


def check_csrf(principal: Principal, method: str, csrf_header: str | None) -> None:
    """A state change through a session cookie must carry the session's CSRF token in a header.
    Bearer clients need none: a browser never adds an Authorization header on its own."""
    if principal.session is None or method.upper() in SAFE_METHODS:
        return
    if not csrf_header:
        raise Forbidden(f"missing {CSRF_HEADER} header: a console change must carry the session's CSRF token")
    if not hmac.compare_digest(csrf_header.encode("utf-8", "surrogateescape"),
                               principal.session.csrf_token.encode()):
        raise Forbidden(f"wrong {CSRF_HEADER}: reload the console page")


def check_origin(origin: str | None, host: str | None) -> None:
    """A browser's Origin, when it sends one, must be the console's own (no cross-site WebSocket
    or login); tools that send no Origin are judged by their credentials alone."""
    if not origin:
        return
    if origin == "null" or urlsplit(origin).netloc.lower() != (host or "").lower():
        raise Forbidden(f"cross-origin request from {origin[:100]} refused; open the console at its own address")
