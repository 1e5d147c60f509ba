"""The admin API's bearer tokens, who they make a request act as, and where the API may listen."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from mcu.admin.errors import AdminStartError, Unauthorized
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


# ---------------------------------------------------------------------------------- principals


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the provider (sees every room) or one tenant (sees its own only)."""

    token_name: str  # for the audit log
    tenant: Tenant | None = None  # None: the provider

    @property
    def is_provider(self) -> bool:
        return self.tenant is None

    @property
    def tenant_name(self) -> str:
        return self.tenant.name if self.tenant is not None else PROVIDER_LABEL

    def sees_room(self, room: str, tenants: Tenants) -> bool:
        """A tenant sees the rooms it owns; the provider sees all."""
        return self.tenant is None or self.tenant.owns(room) and tenants.owner_name(room) == self.tenant.name


PROVIDER_PRINCIPAL = Principal(PROVIDER_TOKEN_NAME)


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
    return Principal(token.name, tenant)
