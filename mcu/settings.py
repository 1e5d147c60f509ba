"""Config fields that carry their own validation: a default and a check returning the problem.

The loader (mcu.config) walks the dataclasses these fields belong to; the dataclasses live
beside what they configure (mcu.config, mcu.conference.spec) and import only this module.
"""


from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import field
from typing import Any

Check = Callable[[Any], "str | None"]


def setting(default: Any, check: Check | None = None, *, factory: Callable[[], Any] | None = None) -> Any:
    """A config field with a default and an optional check returning an error message."""
    meta = {"check": check} if check else {}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def one_of(*choices: Any) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


def in_range(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def host_address(value: str) -> str | None:
    if value in ("", "localhost"):
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be an IPv4 or IPv6 address"
    return None


ROOM_NUMBER = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
PIN = re.compile(r"^[0-9]{0,16}$")
