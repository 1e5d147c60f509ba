"""A small HTTP/1.1 JSON server on the MCU's own event loop, routed by the command table.

One request per connection (`Connection: close`): the operator's tools send a handful of
requests a minute, so keep-alive buys nothing and costs a state machine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from mcu.admin.auth import principal_for
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
from mcu.admin.table import JSON_RESULT, Command, check_args
from mcu.calls.ratelimit import RateLimit
from mcu.log import event

log = logging.getLogger("mcu.admin")

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
READ_TIMEOUT = 10.0
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type",
           422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error"}
# Defaults of [limits] admin_requests_per_second and admin_burst in the config
DEFAULT_REQUESTS_PER_SECOND = 20.0
DEFAULT_BURST = 40
REFUSAL_RATE = "admin_rate"  # key of AdminHttp.refusals


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: str
    query: str = ""


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


class _Route:
    def __init__(self, command: Command):
        self.command = command
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", command.path)
        self.regex = re.compile(f"^{pattern}$")


class AdminHttp:
    """Parses requests, checks the token, dispatches to the command table, writes responses."""

    def __init__(self, context: AdminContext, token: str, server_url: str = "",
                 requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
                 burst: int = DEFAULT_BURST, clock: Callable[[], float] = time.monotonic):
        self.context = context
        self.token = token
        self.routes = [_Route(c) for c in COMMANDS]
        self.openapi = json.dumps(build_openapi(COMMANDS, server_url)).encode()
        self.requests = 0
        self.refused = 0
        # Every request from one client address takes a token, before the token check, so
        # guessing the bearer token is as slow as anything else. Refused: 429, counted here.
        self.rate_limit = RateLimit(requests_per_second, burst)
        self.refusals: Counter[str] = Counter()
        self.clock = clock
        self._limited: set[str] = set()  # clients refused since their last allowed request

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        client = str(peername[0]) if isinstance(peername, tuple) else str(peername)
        try:
            try:
                request = await asyncio.wait_for(_read_request(reader, peer), READ_TIMEOUT)
            except CommandError as exc:
                request = None
                response = json_response(exc.status, {"error": exc.message})
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            limited = self._rate_limited(client, request.path if request else "")
            if limited is not None:
                response = limited
            elif request is not None:
                response = await self.respond(request)
            writer.write(_serialize(response))
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass

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

    async def respond(self, request: Request) -> Response:
        self.requests += 1
        try:
            principal = principal_for(request.headers.get("authorization"), self.token,
                                      getattr(self.context, "tenants", None))
            if request.path == OPENAPI_PATH:
                if request.method != "GET":
                    raise MethodNotAllowed("use GET for /openapi.json")
                return Response(200, self.openapi)
            command, path_args = self._route(request)
            body = _json_body(request) if command.method != "GET" else {}
            args = check_args(command, path_args, body, _query(request))
            args["_who"] = request.headers.get("x-operator", "")[:64] or f"token@{request.peer}"
            args["_principal"] = principal  # the tenant scope (mcu.admin.scope)
            result = await command.handler(self.context, args)
        except CommandError as exc:
            self.refused += 1
            doc: dict[str, Any] = {"error": exc.message}
            if exc.details is not None:
                doc["details"] = exc.details
            extra: tuple[tuple[str, str], ...] = ()
            if exc.status == 401:
                extra = (("WWW-Authenticate", 'Bearer realm="mcu"'),)
                event(log, "admin.unauthorized", logging.WARNING, peer=request.peer, path=request.path,
                      error=exc.message)
            elif isinstance(exc, MethodNotAllowed) and exc.details:
                extra = (("Allow", ", ".join(exc.details)),)
            return json_response(exc.status, doc, extra)
        except Exception:  # a bug in one command must answer 500, not kill the API
            log.exception("admin.error", extra={"fields": {"path": request.path}})
            return json_response(500, {"error": "internal error; see the MCU log"})
        if isinstance(result, bytes):
            return Response(200, result, command.result)
        return json_response(200, {"ok": True, "result": result})

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


async def _read_request(reader: asyncio.StreamReader, peer: str) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise PayloadTooLarge(f"request headers over {MAX_HEADER_BYTES} bytes") from None
    if len(head) > MAX_HEADER_BYTES:
        raise PayloadTooLarge(f"request headers over {MAX_HEADER_BYTES} bytes")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadArguments("malformed request line; expected 'METHOD /path HTTP/1.1'")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise BadArguments(f"malformed header line {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadArguments("chunked bodies are not accepted; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadArguments("Content-Length must be a number") from None
    if length < 0:
        raise BadArguments("Content-Length must not be negative")
    if length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")
    body = await reader.readexactly(length) if length else b""
    target = urlsplit(parts[1])
    return Request(parts[0].upper(), target.path or "/", headers, body, peer, target.query)


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


def _serialize(response: Response) -> bytes:
    reason = REASONS.get(response.status, "Status")
    head = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}", "Connection: close", "Cache-Control: no-store"]
    head += [f"{k}: {v}" for k, v in response.extra_headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body
