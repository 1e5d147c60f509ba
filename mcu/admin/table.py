"""The command table's value types and argument checking (shared by HTTP, OpenAPI and the CLI).

As in FreeSWITCH's conference API, one row per command: name, handler, arguments, help.
The HTTP route, the OpenAPI operation and the `mcu ctl` subcommand are all derived from it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcu.admin.errors import BadArguments

if TYPE_CHECKING:
    from mcu.admin.commands import AdminContext

PATH = "path"
BODY = "body"
QUERY = "query"  # of a GET: ?name=value
JSON_RESULT = "application/json"
PNG_RESULT = "image/png"

Handler = Callable[["AdminContext", dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Arg:
    name: str
    type: type  # str or int
    help: str
    where: str = BODY  # PATH (in the URL), QUERY (?name=value, for GET) or BODY (a JSON object key)
    required: bool = True
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # for strings
    minimum: int | None = None  # for integers
    maximum: int | None = None
    max_length: int = 256


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    method: str  # GET reads, POST changes state
    path: str  # "/rooms/{room}/members"
    args: tuple[Arg, ...]
    help: str
    result: str = JSON_RESULT

    @property
    def changes_state(self) -> bool:
        return self.method != "GET"

    @property
    def path_args(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.where == PATH)

    @property
    def body_args(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.where == BODY)

    @property
    def query_args(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.where == QUERY)


def check_value(arg: Arg, value: Any) -> Any:
    """`value` converted to the argument's type, or BadArguments saying what is expected."""
    if arg.type is int:
        if isinstance(value, str) and arg.where in (PATH, QUERY) and re.fullmatch(r"-?[0-9]{1,9}", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadArguments(f"'{arg.name}' must be an integer ({arg.help}); got {value!r}")
        if arg.minimum is not None and value < arg.minimum:
            raise BadArguments(f"'{arg.name}' must be at least {arg.minimum}; got {value}")
        if arg.maximum is not None and value > arg.maximum:
            raise BadArguments(f"'{arg.name}' must be at most {arg.maximum}; got {value}")
        return value
    if not isinstance(value, str):
        raise BadArguments(f"'{arg.name}' must be a string ({arg.help}); got {value!r}")
    if len(value) > arg.max_length:
        raise BadArguments(f"'{arg.name}' is longer than {arg.max_length} characters")
    if arg.choices and value not in arg.choices:
        raise BadArguments(f"'{arg.name}' must be one of {', '.join(arg.choices)}; got {value!r}")
    if arg.pattern and not re.fullmatch(arg.pattern, value):
        raise BadArguments(f"'{arg.name}' {arg.help}; got {value!r}")
    return value


def check_args(command: Command, path: dict[str, str], body: dict[str, Any],
               query: dict[str, str] | None = None) -> dict[str, Any]:
    """All arguments of one call, checked and converted; unknown or missing keys are refused."""
    query = query or {}
    for given, args in ((body, command.body_args), (query, command.query_args)):
        known = {a.name for a in args}
        unknown = sorted(set(given) - known)
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise BadArguments(f"unknown argument(s) {', '.join(unknown)} for '{command.name}' "
                               f"(arguments it takes: {allowed})")
    out: dict[str, Any] = {}
    for arg in command.args:
        source = path if arg.where == PATH else query if arg.where == QUERY else body
        if arg.name not in source or (arg.where != PATH and source[arg.name] is None and not arg.required):
            if arg.required:
                raise BadArguments(f"'{command.name}' needs '{arg.name}': {arg.help}")
            continue
        out[arg.name] = check_value(arg, source[arg.name])
    return out
