"""`mcu ctl <command> ...`: the admin API from the command line, one subcommand per table row.

Tables for people, `--json` for scripts. The URL and token come from flags, else from the
environment (MCU_ADMIN_URL, MCU_ADMIN_TOKEN), else from the config's [admin] section.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from mcu.admin.auth import load_token
from mcu.admin.commands import COMMANDS
from mcu.admin.errors import AdminStartError
from mcu.admin.table import PATH, PNG_RESULT, QUERY, Command

# Commands named "<group>-<verb>" are `mcu ctl <group> <verb>` (record start, stream stop).
CLI_GROUPS = {"record": "record a room (start, stop)", "stream": "stream a room live (start, stop)",
              "content": "content sharing: floor and operator slides (status, grant, revoke, start, page, stop)"}
DEFAULT_CONFIG = os.environ.get("MCU_CONFIG", "conf/mcu.toml")
TIMEOUT = 30.0
EXIT_REFUSED = 1  # the API answered with an error
EXIT_UNREACHABLE = 2  # no answer, or no URL/token

# columns of the people-facing tables: (header, dotted path in a result row)
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "rooms": [("ROOM", "number"), ("NAME", "name"), ("MEMBERS", "members"), ("LOCKED", "locked"),
              ("LAYOUT", "layout"), ("MODE", "mode"), ("FLOOR", "floor"), ("RECORDING", "recording"),
              ("STREAM", "stream"), ("CONTENT", "content")],
    "recordings": [("ROOM", "room"), ("FILE", "file"), ("STARTED", "started"), ("BYTES", "bytes"),
                   ("STATE", "state")],
    "roster": [("SITE", "site"), ("NAME", "name"), ("ROLE", "role"), ("STATUS", "status"), ("MEMBER", "member")],
    "members": [("ID", "id"), ("NAME", "name"), ("STATE", "state"), ("CHAIR", "chair"), ("MUTED", "muted"),
                ("DEAF", "deaf"), ("SPEAKING", "speaking"), ("AUDIO", "audio.codec"),
                ("LOSS%", "audio.loss_percent"), ("JITTER ms", "audio.jitter_ms"), ("VIDEO IN", "video.in.resolution"),
                ("VIDEO OUT", "video.out.resolution")],
}


class CtlError(Exception):
    def __init__(self, message: str, code: int = EXIT_UNREACHABLE):
        super().__init__(message)
        self.code = code


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                        help=f"MCU config to read [admin] from (default: {DEFAULT_CONFIG})")
    common.add_argument("--url", default=os.environ.get("MCU_ADMIN_URL", ""),
                        help="admin API URL, e.g. http://127.0.0.1:8088 (default: from config, or $MCU_ADMIN_URL)")
    common.add_argument("--node", action="append", default=None, metavar="URL",
                        help="a cluster node's admin API URL; repeat it (or give URL,URL,...) to name several: "
                             "they are tried in order until one answers (any node answers for any room; "
                             "default: $MCU_ADMIN_NODES)")
    common.add_argument("--token-file", default="", help="file holding the bearer token (default: from config)")
    common.add_argument("--json", action="store_true", help="print the JSON answer (for scripts)")
    common.add_argument("--operator", default=os.environ.get("USER", ""),
                        help="who you are, written to the MCU's log with each change (default: $USER)")
    common.add_argument("--cacert", default="", help="CA bundle to verify an https admin API")
    return common


def register(subparsers: Any) -> None:
    """Add `mcu ctl` and one subcommand per admin command to the `mcu` parser's subparsers."""
    ctl = subparsers.add_parser("ctl", help="control a running MCU (mute, pin, layout, dial, ...)",
                                description="Call the running MCU's admin API. Each subcommand is one "
                                            "command of the API (see /openapi.json).")
    sub = ctl.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)
    common = _common()
    groups: dict[str, Any] = {}
    for command in COMMANDS:
        group, _, verb = command.name.partition("-")
        if group in CLI_GROUPS:
            if group not in groups:
                parent = sub.add_parser(group, help=CLI_GROUPS[group], description=CLI_GROUPS[group])
                groups[group] = parent.add_subparsers(dest="ctl_verb", metavar="VERB", required=True)
            p = groups[group].add_parser(verb, help=command.help, description=command.help, parents=[common])
        else:
            p = sub.add_parser(command.name, help=command.help, description=command.help, parents=[common])
        for arg in command.args:
            kwargs: dict[str, Any] = {"type": arg.type, "help": arg.help}
            if arg.choices:
                kwargs["choices"] = arg.choices
            if arg.required:
                p.add_argument(arg.name, **kwargs)
            elif arg.where == QUERY and len(command.query_args) == 1:  # `mcu ctl recordings [ROOM]`
                p.add_argument(arg.name, nargs="?", default=None, **kwargs)
            else:
                p.add_argument(f"--{arg.name}", default=None, **kwargs)
        if command.result == PNG_RESULT:
            p.add_argument("-o", "--output", required=True, help="PNG file to write")
        p.set_defaults(func=run, ctl=command)


def run(args: argparse.Namespace) -> int:
    command: Command = args.ctl
    values = vars(args)
    if isinstance(values.get("file"), str) and Path(values["file"]).exists():
        values["file"] = str(Path(values["file"]).resolve())  # the operator's file, wherever the MCU runs from
    nodes = _nodes(args)
    if nodes and not args.url:
        args.url = nodes[0]
    try:
        url, token = _endpoint(args)
        status, body = _call_any(nodes or [url], token, command, args)
    except CtlError as exc:
        print(f"mcu ctl: {exc}", file=sys.stderr)
        return exc.code
    if status != 200:
        doc = _json_or_text(body)
        message = doc.get("error", body.decode(errors="replace")) if isinstance(doc, dict) else str(doc)
        print(f"mcu ctl {command.name}: refused ({status}): {message}", file=sys.stderr)
        for line in (doc.get("details") or []) if isinstance(doc, dict) else []:
            print(f"  {line}", file=sys.stderr)
        return EXIT_REFUSED
    if command.result == PNG_RESULT:
        Path(args.output).write_bytes(body)
        print(f"wrote {args.output} ({len(body)} bytes)")
        return 0
    doc = _json_or_text(body)
    result = doc.get("result") if isinstance(doc, dict) else doc
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(format_result(command.name, result))
    return 0


def _nodes(args: argparse.Namespace) -> list[str]:
    """--node URL (repeated or comma-separated), else $MCU_ADMIN_NODES: the cluster's admin APIs."""
    given = args.node or ([os.environ["MCU_ADMIN_NODES"]] if os.environ.get("MCU_ADMIN_NODES") else [])
    return [u.strip().rstrip("/") for item in given for u in item.split(",") if u.strip()]


def _call_any(urls: list[str], token: str, command: Command, args: argparse.Namespace) -> tuple[int, bytes]:
    """The first node that answers (a node that is down is skipped, and said so on stderr)."""
    failures = []
    for url in urls:
        try:
            status, _, body = call(url, token, command, vars(args), args.operator, args.cacert)
        except CtlError as exc:
            failures.append(str(exc))
            if len(urls) > 1:
                print(f"mcu ctl: {url} does not answer; trying the next node", file=sys.stderr)
            continue
        return status, body
    raise CtlError(failures[0] if len(failures) == 1 else "no node answers:\n  " + "\n  ".join(failures))


def _endpoint(args: argparse.Namespace) -> tuple[str, str]:
    url, token = args.url, os.environ.get("MCU_ADMIN_TOKEN", "")
    token_file = args.token_file
    if not url or not (token or token_file):
        from mcu.config import load_config
        from mcu.tomlfile import ConfigError

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            raise CtlError(f"cannot read {args.config} for the admin URL and token ({exc.issues[0]}); "
                           f"pass --url and --token-file") from None
        admin = config.mcu.admin
        if not url:
            host = admin.host if admin.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
            scheme = "https" if getattr(admin, "tls_cert", "") else "http"
            url = f"{scheme}://{'[' + host + ']' if ':' in host else host}:{admin.port}"
        if not token and not token_file:
            try:
                token = load_token(getattr(admin, "token", ""), admin.token_file, config.path.parent)
            except AdminStartError as exc:
                raise CtlError(str(exc).replace("admin API not started: ", "no admin token: ")) from None
    if not token:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CtlError(f"cannot read --token-file {token_file}: {exc.strerror}") from None
    return url.rstrip("/"), token


def call(url: str, token: str, command: Command, values: dict[str, Any], operator: str = "",
         cacert: str = "") -> tuple[int, str, bytes]:
    """One API call; returns (status, content type, body). Raises CtlError when unreachable."""
    path = command.path
    for arg in command.args:
        if arg.where == PATH:
            path = path.replace(f"{{{arg.name}}}", quote(str(values[arg.name]), safe=""))
    query = {a.name: values[a.name] for a in command.query_args if values.get(a.name) is not None}
    if query:
        path += "?" + urlencode(query)
    data = None
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if operator:
        headers["X-Operator"] = operator
    if command.method != "GET":
        body = {a.name: values[a.name] for a in command.body_args if values.get(a.name) is not None}
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url + path, data=data, headers=headers, method=command.method)
    context = ssl.create_default_context(cafile=cacert or None) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CtlError(f"cannot reach the admin API at {url}: {reason}; is the MCU running with [admin] "
                       f"enabled?") from None


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.decode(errors="replace")


def _get(row: dict[str, Any], dotted: str) -> Any:
    value: Any = row
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_result(name: str, result: Any) -> str:
    """A table for lists of rows, `key: value` lines for one object."""
    if isinstance(result, list):
        if not result:
            return "(none)"
        columns = COLUMNS.get(name) or [(k.upper(), k) for k in result[0] if not isinstance(result[0][k], dict)]
        rows = [[h for h, _ in columns]] + [[_cell(_get(r, path)) for _, path in columns] for r in result]
        widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
    if isinstance(result, dict):
        lines = []
        for key, value in result.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                lines.append(f"{key}:")
                lines.extend("  " + line for line in format_result("", value).splitlines())
            else:
                lines.append(f"{key}: {_cell(value) if not isinstance(value, (dict, list)) else json.dumps(value)}")
        return "\n".join(lines)
    return _cell(result)
