"""The admin API of a cluster node answers for any room: decide here whether a room command runs
on this node or goes to the node that hosts the room, and forward it there.

`decide()` is pure: the room is served here when it has members here, when the registry names no
owner or this node, or when the owner's admin URL is unknown (a dead node's room then answers
with this node's, empty, state). Otherwise the request is forwarded to the owner's admin API with
the cluster's shared token, and its answer (status and document) is handed back as it came.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from mcu.cluster.registry import NodeInfo

FORWARD_TIMEOUT = 10.0
FORWARDED_HEADER = "X-MCU-Forwarded-By"  # the node that forwarded (for the owner's log)


@dataclass(frozen=True)
class Forward:
    owner: str
    admin_url: str


@dataclass(frozen=True)
class Forwarded:
    """The owner's answer: HTTP status, and the JSON document (or raw bytes, e.g. a PNG)."""

    status: int
    doc: Any
    raw: bytes = b""
    content_type: str = ""


def decide(self_id: str, has_members_here: bool, owner: NodeInfo | None) -> Forward | None:
    """Forward(owner, url) when another live node hosts the room; None: serve it here."""
    if has_members_here or owner is None or owner.node_id == self_id or not owner.admin:
        return None
    return Forward(owner.node_id, owner.admin.rstrip("/"))


def request_path(path_template: str, path_args: dict[str, str], query: dict[str, Any]) -> str:
    path = path_template
    for name, value in path_args.items():
        path = path.replace(f"{{{name}}}", quote(str(value), safe=""))
    if query:
        path += "?" + urlencode(query)
    return path


def _send(url: str, method: str, body: dict[str, Any] | None, token: str, operator: str, via: str) -> Forwarded:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", FORWARDED_HEADER: via}
    if operator:
        headers["X-Operator"] = operator[:64]
    data = None
    if method != "GET":
        data = json.dumps(body or {}).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT) as response:
            status, ctype, raw = response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        status, ctype, raw = exc.code, exc.headers.get("Content-Type", ""), exc.read()
    if "json" not in ctype:
        return Forwarded(status, None, raw, ctype)
    try:
        return Forwarded(status, json.loads(raw), raw, ctype)
    except ValueError:
        return Forwarded(502, {"error": f"the owning node answered {status} with a body that is not JSON"})


async def forward(target: Forward, method: str, path: str, body: dict[str, Any] | None, token: str,
                  operator: str, via: str) -> Forwarded:
    """Send the command to the owner (on a thread: urllib blocks); OSError when it is unreachable."""
    return await asyncio.to_thread(_send, target.admin_url + path, method, body, token, operator, via)
