"""The admin HTTP server: aiohttp on the MCU's own event loop, routed by the command table.

aiohttp carries the HTTP (keep-alive, WebSocket for the console's live feed, static files);
what the API means stays in `AdminHttp.respond`, which maps one (method, path, query, body,
credentials) to a command's result without any socket, so it is tested and reasoned about alone.
Every request's credentials become one principal in `mcu.admin.auth.resolve_principal`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from mcu.admin.auth import Principal, check_csrf, resolve_principal
from mcu.admin.commands import COMMANDS, AdminContext
from mcu.admin.errors import (
    BadArguments,
    CommandError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedMediaType,
)
from mcu.admin.openapi import OPENAPI_PATH, build_openapi
from mcu.admin.sessions import COOKIE_NAME, CSRF_HEADER, SessionStore
from mcu.admin.table import JSON_RESULT, Command, check_args
from mcu.calls.ratelimit import RateLimit
from mcu.log import event

if TYPE_CHECKING:
    from mcu.admin.console import Console

log = logging.getLogger("mcu.admin")

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
KEEPALIVE_TIMEOUT = 30.0  # s an idle keep-alive connection stays open
SHUTDOWN_TIMEOUT = 2.0  # s running requests get when the API stops
# Defaults of [limits] admin_requests_per_second and admin_burst in the config
DEFAULT_REQUESTS_PER_SECOND = 20.0
DEFAULT_BURST = 40
# keys of AdminHttp.refusals (exported as mcu_refusals_total{reason})
REFUSAL_RATE = "admin_rate"
REFUSAL_FORBIDDEN = "admin_forbidden"  # no or wrong CSRF token, another site's Origin
REFUSAL_BAD_HTTP = "admin_bad_http"  # aiohttp could not parse the request
REFUSAL_SLOW_CONSOLE = "console_slow_client"  # a console browser that stopped reading its feed
CONSOLE_PREFIX = "/console"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    peer: str
    query: str = ""
    session_id: str = ""  # the console's session cookie, when the request carried one
    principal: Principal | None = field(default=None, repr=False)  # set by respond()


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON_RESULT
    extra_headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, doc: Any, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    # "replace": a name from the wire may hold lone surrogates (undecodable bytes kept by the parser)
    body = json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8", "replace") + b"\n"
    return Response(status, body, JSON_RESULT, extra)


def error_response(exc: CommandError) -> Response:
    doc: dict[str, Any] = {"error": exc.message}
    if exc.details is not None:
        doc["details"] = exc.details
    extra: tuple[tuple[str, str], ...] = ()
    if exc.status == 401:
        extra = (("WWW-Authenticate", 'Bearer realm="mcu"'),)
    elif isinstance(exc, MethodNotAllowed) and exc.details:
        extra = (("Allow", ", ".join(exc.details)),)
    return json_response(exc.status, doc, extra)


def to_aiohttp(response: Response) -> web.Response:
    headers = {"Content-Type": response.content_type, "Cache-Control": "no-store"}
    for name, value in response.extra_headers:
        if name.lower() == "set-cookie":
            continue
        headers[name] = value
    out = web.Response(status=response.status, body=response.body, headers=headers)
    for name, value in response.extra_headers:
        if name.lower() == "set-cookie":
            out.headers.add("Set-Cookie", value)
    return out


class _Route:
    def __init__(self, command: Command):
        self.command = command
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", command.path)
        self.regex = re.compile(f"^{pattern}$")


class ProtocolLog:
    """aiohttp's own log of requests it could not parse (bad request line, header, URL): those are
    the client's fault, answered 400 by aiohttp and noted here in one line, not as a traceback.
    Anything else it reports (a handler that raised) is an error of ours and logged as one."""

    def __init__(self, refusals: Counter[str]) -> None:
        self.refusals = refusals

    def exception(self, message: str, *args: Any, exc_info: BaseException | None = None, **kw: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self.refusals[REFUSAL_BAD_HTTP] += 1
            peer = args[0] if args else ""
            event(log, "admin.bad_http", peer=str(peer), error=str(exc_info.message)[:200]
                  if getattr(exc_info, "message", None) else type(exc_info).__name__)
            return
        log.error("admin.error", exc_info=exc_info, extra={"fields": {"where": message % args if args else message}})

    def debug(self, *args: Any, **kw: Any) -> None:
        pass

    info = warning = debug

    def error(self, message: str, *args: Any, **kw: Any) -> None:
        log.error("admin.error", extra={"fields": {"where": message % args if args else message}})


@dataclass
class AdminListener:
    """A started aiohttp server; `await close()` stops it."""

    runner: web.AppRunner

    @property
    def port(self) -> int:
        addresses = self.runner.addresses
        return int(addresses[0][1]) if addresses else 0

    async def close(self) -> None:
        await self.runner.cleanup()


class AdminHttp:
    """Checks the rate and the credentials, dispatches to the command table, answers in JSON."""

    def __init__(self, context: AdminContext, token: str, server_url: str = "",
                 requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
                 burst: int = DEFAULT_BURST, clock: Callable[[], float] = time.monotonic,
                 sessions: SessionStore | None = None):
        self.context = context
        self.token = token
        self.sessions = sessions if sessions is not None else SessionStore()
        self.routes = [_Route(c) for c in COMMANDS]
        self.openapi = json.dumps(build_openapi(COMMANDS, server_url)).encode()
        self.requests = 0
        self.refused = 0
        # Every request from one client address takes a token, before the token check, so
        # guessing the bearer token is as slow as anything else. Refused: 429, counted here.
        self.rate_limit = RateLimit(requests_per_second, burst)
        self.refusals: Counter[str] = Counter()
        self.clock = clock
        self.console: Console | None = None  # the web console, when attached (console.py)
        self.protocol_log = ProtocolLog(self.refusals)
        self._limited: set[str] = set()  # clients refused since their last allowed request

    # ------------------------------------------------------------------ the aiohttp shell

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        if self.console is not None:
            app.on_shutdown.append(lambda _app: self.console.shutdown())  # type: ignore[union-attr]
        return app

    async def listen(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> AdminListener:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                               shutdown_timeout=SHUTDOWN_TIMEOUT, keepalive_timeout=KEEPALIVE_TIMEOUT,
                               max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES,
                               logger=self.protocol_log)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        return AdminListener(runner)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peername = request.transport.get_extra_info("peername") if request.transport else None
        client = str(peername[0]) if isinstance(peername, tuple) else str(request.remote or "")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else client
        target = urlsplit(request.raw_path)
        path = target.path or "/"
        limited = self._rate_limited(client, path)
        if limited is not None:
            return to_aiohttp(limited)
        if self.console is not None and (path == "/" or path == CONSOLE_PREFIX
                                         or path.startswith(CONSOLE_PREFIX + "/")):
            return await self.console.handle(request, path, peer)
        try:
            body = await read_body(request)
        except CommandError as exc:
            return to_aiohttp(error_response(exc))
        headers = {k.lower(): v for k, v in request.headers.items()}
        ours = Request(request.method.upper(), path, headers, body, peer, target.query,
                       request.cookies.get(COOKIE_NAME, ""))
        return to_aiohttp(await self.respond(ours))

    def _rate_limited(self, client: str, path: str) -> Response | None:
        """None when `client` is within its rate; else the 429 to send (Retry-After in s)."""
        wait = self.rate_limit.take(client, self.clock())
        if wait <= 0.0:
            self._limited.discard(client)
            return None
        self.refusals[REFUSAL_RATE] += 1
        retry = max(1, math.ceil(wait))
        limit = self.rate_limit
        exc = TooManyRequests(f"too many requests from {client}: the admin API takes {limit.rate:g} "
                              f"per second from one address (bursts of {limit.burst}); retry after "
                              f"{retry} s", details={"retry_after": retry})
        if client not in self._limited:  # once per episode, not once per request
            if len(self._limited) >= self.rate_limit.max_clients:
                self._limited.clear()
            self._limited.add(client)
            event(log, "admin.rate_limited", logging.WARNING, peer=client, path=path,
                  rate=limit.rate, burst=limit.burst)
        return json_response(exc.status, {"error": exc.message, "details": exc.details},
                             (("Retry-After", str(retry)),))

    # ------------------------------------------------------------------ the core: no sockets

    def principal_of(self, request: Request) -> Principal:
        """The request's principal (auth.resolve_principal); raises Unauthorized."""
        return resolve_principal(request.headers.get("authorization"), request.session_id, self.token,
                                 self.sessions, self.clock(), getattr(self.context, "tenants", None))

    async def respond(self, request: Request) -> Response:
        self.requests += 1
        try:
            principal = self.principal_of(request)
            request.principal = principal
            if request.path == OPENAPI_PATH:
                if request.method != "GET":
                    raise MethodNotAllowed("use GET for /openapi.json")
                return Response(200, self.openapi)
            command, path_args = self._route(request)
            check_csrf(principal, request.method, request.headers.get(CSRF_HEADER.lower()))
            body = _json_body(request) if command.method != "GET" else {}
            args = check_args(command, path_args, body, _query(request))
            args["_principal"] = principal
            args["_who"] = request.headers.get("x-operator", "")[:64] or self._who(principal, request.peer)
            result = await command.handler(self.context, args)
        except CommandError as exc:
            self.refused += 1
            if exc.status == 403:
                self.refusals[REFUSAL_FORBIDDEN] += 1
            if exc.status in (401, 403):
                event(log, "admin.unauthorized" if exc.status == 401 else "admin.forbidden", logging.WARNING,
                      peer=request.peer, path=request.path, error=exc.message)
            return error_response(exc)
        except Exception:  # a bug in one command must answer 500, not kill the API
            log.exception("admin.error", extra={"fields": {"path": request.path}})
            return json_response(500, {"error": "internal error; see the MCU log"})
        if isinstance(result, bytes):
            return Response(200, result, command.result)
        return json_response(200, {"ok": True, "result": result})

    @staticmethod
    def _who(principal: Principal, peer: str) -> str:
        if principal.session is not None:
            return principal.session.who or f"console@{peer}"
        return f"token@{peer}"

    def _route(self, request: Request) -> tuple[Command, dict[str, str]]:
        allowed: list[str] = []
        for route in self.routes:
            match = route.regex.match(request.path)
            if match is None:
                continue
            if route.command.method != request.method:
                allowed.append(route.command.method)
                continue
            return route.command, {k: unquote(v) for k, v in match.groupdict().items()}
        if allowed:
            raise MethodNotAllowed(f"use {' or '.join(allowed)} for {request.path}", details=allowed)
        raise NotFound(f"no such endpoint {request.path}; the commands are listed in {OPENAPI_PATH}")


async def read_body(request: web.Request) -> bytes:
    """The request's body, within MAX_BODY_BYTES; chunked bodies are refused as before."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        raise BadArguments("chunked bodies are not accepted; send Content-Length")
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")
    if not request.body_exists:
        return b""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes") from None
    except (ConnectionError, HttpProcessingError):  # the client went away or broke off mid-body
        raise BadArguments("the request body ended before its Content-Length") from None


def _query(request: Request) -> dict[str, str]:
    try:
        pairs = parse_qsl(request.query, keep_blank_values=True, strict_parsing=bool(request.query),
                          max_num_fields=32)
    except ValueError:
        raise BadArguments("malformed query string; write ?name=value&name=value") from None
    return dict(pairs)


def _json_body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    content_type = request.headers.get("content-type", JSON_RESULT).split(";")[0].strip().lower()
    if content_type not in (JSON_RESULT, "text/json", ""):
        raise UnsupportedMediaType(f"send the arguments as a JSON object with Content-Type: {JSON_RESULT}")
    try:
        doc = json.loads(request.body)
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, a 5000-digit number, [[[[... too deep
        raise BadArguments(f"malformed JSON body ({exc}); send a JSON object such as "
                           '{"layout": "speaker"}') from None
    if not isinstance(doc, dict):
        raise BadArguments(f"the body must be a JSON object, not {type(doc).__name__}")
    return doc
