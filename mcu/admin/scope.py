"""Tenant scoping and the audit log of the admin API, wrapped around every command of the table.

A request acts as a `Principal` (mcu.admin.auth.principal_for): the provider sees and changes
everything; a tenant sees and changes only its own rooms, members, recordings and usage. Another
tenant's room answers exactly as a room that does not exist (404, listing only the caller's own
rooms), so a tenant learns nothing of the others. Provider-only commands (reload) are 404 too.

Every state-changing call (POST) is written to the audit log, one JSON object per line:
time (UTC), tenant, token name, operator (X-Operator), command, arguments (secrets redacted),
outcome (ok, or the HTTP status and error).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcu.admin.auth import PROVIDER_PRINCIPAL, Principal
from mcu.admin.errors import BadArguments, CommandError, NotFound
from mcu.admin.table import Command
from mcu.log import event
from mcu.recording.link import redact_url

if TYPE_CHECKING:
    from mcu.admin.commands import AdminContext

log = logging.getLogger("mcu.admin")

PROVIDER_ONLY = frozenset({"reload"})
ROOM_LISTS = frozenset({"rooms"})  # results: a list of rooms ("number")
RECORDING_LISTS = frozenset({"recordings"})  # results: a list of recordings ("room")
SECRET_ARGS = {"stream_url": redact_url}


def principal_of(args: dict[str, Any]) -> Principal:
    principal = args.get("_principal")
    return principal if isinstance(principal, Principal) else PROVIDER_PRINCIPAL


def visible_rooms(ctx: AdminContext, principal: Principal) -> list[str]:
    tenants = ctx.tenants
    return sorted(n for n in ctx.server.conference.rooms if principal.sees_room(n, tenants))


def check_room(ctx: AdminContext, principal: Principal, room: str) -> None:
    """NotFound unless the principal may see `room`: the same answer for another tenant's room as for
    a room that does not exist."""
    if principal.is_provider:
        return
    if room not in ctx.server.conference.rooms or not principal.sees_room(room, ctx.tenants):
        known = ", ".join(visible_rooms(ctx, principal)) or "none"
        raise NotFound(f"no room {room!r}; rooms: {known}")


def _check_tenant_args(ctx: AdminContext, command: Command, principal: Principal, args: dict[str, Any]) -> None:
    tenant = principal.tenant
    if tenant is None:
        return
    if command.name in PROVIDER_ONLY:
        raise NotFound(f"no such endpoint {command.path}; the commands are listed in /openapi.json")
    if "room" in args and args["room"] is not None:
        check_room(ctx, principal, str(args["room"]))
    layout = args.get("layout")
    if layout is not None and not tenant.may_use_layout(layout):
        raise BadArguments(f"layout {layout!r} is not one tenant {tenant.name!r} may choose; its layouts: "
                           f"{', '.join(sorted(tenant.layouts))}")
    if command.name in ("dial", "pin", "floor") and "target" in args:
        target = str(args["target"])
        site = ctx.server.config.layouts.site(target)
        if site is not None and target not in tenant.sites:
            raise NotFound(f"{target!r} is not a site of tenant {tenant.name!r}'s roster")
    if command.name == "usage" and args.get("tenant") not in (None, "", tenant.name):
        raise NotFound(f"no tenant {args['tenant']!r}")


def _filter_result(ctx: AdminContext, command: Command, principal: Principal, result: Any) -> Any:
    tenant = principal.tenant
    if tenant is None:
        return result
    if command.name == "layouts" and isinstance(result, dict) and tenant.layouts:  # what it may choose
        return {k: [e for e in v if isinstance(e, dict) and tenant.may_use_layout(str(e.get("name")))]
                for k, v in result.items()}
    if not isinstance(result, list):
        return result
    if command.name == "roster":  # its own roster sites
        return [r for r in result if r.get("site") in tenant.sites]
    tenants = ctx.tenants
    if command.name in ROOM_LISTS:
        return [r for r in result if principal.sees_room(str(r.get("number")), tenants)]
    if command.name in RECORDING_LISTS:
        return [r for r in result if principal.sees_room(str(r.get("room")), tenants)]
    return result


class AuditLog:
    """Appends one JSON line per state-changing call; a failing disk is logged once, never raised."""

    def __init__(self, path_of: Callable[[], Path | None], clock: Callable[[], float] = time.time) -> None:
        self.path_of = path_of
        self.clock = clock
        self.written = 0
        self.failures = 0
        self._lock = threading.Lock()

    def write(self, principal: Principal, operator: str, command: str, args: dict[str, Any], outcome: str,
              error: str = "") -> None:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock())) + "Z",
            "tenant": principal.tenant_name, "token": principal.token_name, "operator": operator,
            "command": command,
            "args": {k: SECRET_ARGS[k](v) if k in SECRET_ARGS and isinstance(v, str) else v
                     for k, v in args.items() if not k.startswith("_")},
            "outcome": outcome}
        if error:
            entry["error"] = error
        path = self.path_of()
        if path is None:
            return
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock, path.open("a", encoding="utf-8") as out:
                out.write(line)
            self.written += 1
        except OSError as exc:
            self.failures += 1
            if self.failures == 1:
                event(log, "admin.audit_failed", logging.ERROR, path=str(path), error=str(exc))


def scoped(command: Command, audit: Callable[[AdminContext], AuditLog | None]) -> Command:
    """`command` with tenant scoping before and after its handler, and its audit line."""
    inner = command.handler

    async def handler(ctx: AdminContext, args: dict[str, Any]) -> Any:
        principal = principal_of(args)
        log_to = audit(ctx) if command.changes_state else None
        operator = str(args.get("_who", ""))
        try:
            _check_tenant_args(ctx, command, principal, args)
            result = await inner(ctx, args)
        except CommandError as exc:
            if log_to is not None:
                log_to.write(principal, operator, command.name, args, str(exc.status), exc.message)
            raise
        except Exception as exc:
            if log_to is not None:
                log_to.write(principal, operator, command.name, args, "500", type(exc).__name__)
            raise
        if log_to is not None:
            log_to.write(principal, operator, command.name, args, "ok")
        return _filter_result(ctx, command, principal, result)

    return replace(command, handler=handler)
