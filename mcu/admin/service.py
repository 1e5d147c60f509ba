"""Start and stop the admin API inside the running MCU."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mcu.admin.auth import check_bind, load_token
from mcu.admin.commands import AdminContext
from mcu.admin.console import Console
from mcu.admin.errors import AdminStartError
from mcu.admin.http import AdminHttp, AdminListener
from mcu.admin.scope import AuditLog
from mcu.admin.sessions import SessionStore
from mcu.config import Config
from mcu.log import event

if TYPE_CHECKING:
    from mcu.calls.control import MeetingControl

log = logging.getLogger("mcu.admin")


@dataclass
class AdminService:
    """The running API; `await service.stop()` closes it. `url` is where it listens."""

    url: str = ""
    context: AdminContext | None = None
    http: AdminHttp | None = None
    _listener: AdminListener | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return self._listener.port if self._listener is not None else 0

    async def stop(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
            event(log, "admin.stopped")


def _tls_context(cert: str, key: str, config: Config) -> ssl.SSLContext | None:
    if not (cert and key):
        return None
    base = config.path.parent
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(base / cert), str(base / key))
    except (OSError, ssl.SSLError) as exc:
        raise AdminStartError(f"admin API not started: cannot load admin.tls_cert/admin.tls_key: {exc}") from None
    return ctx


def _audit_path(server: MeetingControl) -> Path | None:
    """[admin] audit_log of the running config (relative: the config folder); "" writes none."""
    config = server.config
    name = getattr(config.mcu.admin, "audit_log", "")
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else config.path.parent / path


async def start_admin(server: MeetingControl, config: Config) -> AdminService:
    """Start the API as configured in [admin]; raise AdminStartError (say why) when it must not.

    Disabled in config: returns a service that listens nowhere. `admin.tls_cert`, `admin.tls_key`
    and `admin.token` are read when the config has them (getattr), so adding those keys to
    AdminSection is enough to turn them on.
    """
    admin = config.mcu.admin
    if not admin.enabled:
        event(log, "admin.disabled")
        return AdminService()
    token = load_token(getattr(admin, "token", ""), admin.token_file, config.path.parent)
    tls = _tls_context(getattr(admin, "tls_cert", ""), getattr(admin, "tls_key", ""), config)
    check_bind(admin.host, tls is not None)
    scheme = "https" if tls else "http"
    host = admin.host or "127.0.0.1"
    context = AdminContext(server, audit=AuditLog(lambda: _audit_path(server)))
    limits = config.mcu.limits
    http = AdminHttp(context, token, requests_per_second=limits.admin_requests_per_second,
                     burst=limits.admin_burst, sessions=SessionStore(admin.session_hours * 3600.0))
    http.console = Console(http, language=admin.console_language, secure=tls is not None)
    try:
        listener = await http.listen(host, admin.port, tls)
    except OSError as exc:
        raise AdminStartError(f"admin API not started: cannot listen on {host}:{admin.port}: {exc.strerror}") from None
    http.console.start()
    service = AdminService(context=context, http=http, _listener=listener)
    shown = f"[{host}]" if ":" in host else host
    service.url = f"{scheme}://{shown}:{service.port}"
    event(log, "admin.listening", url=service.url, tls=tls is not None)
    return service
