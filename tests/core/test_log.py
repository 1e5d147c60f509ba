from __future__ import annotations

import io
import json
import logging

from mcu.log import event, setup_logging


def test_key_value_lines_quote_what_needs_it() -> None:
    out = io.StringIO()
    setup_logging("info", "kv", out)
    event(logging.getLogger("mcu.t"), "room.join", room="4100", name="UBND tỉnh Lào Cai", n=3)
    line = out.getvalue().strip()
    assert line.split(" ")[1:4] == ["level=info", "logger=mcu.t", "event=room.join"]
    assert 'name="UBND tỉnh Lào Cai"' in line and line.endswith("n=3")


def test_json_lines_and_level_filter() -> None:
    out = io.StringIO()
    setup_logging("warning", "json", out)
    event(logging.getLogger("mcu.t"), "quiet")
    event(logging.getLogger("mcu.t"), "loud", logging.WARNING, code=486)
    (line,) = out.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["event"] == "loud" and doc["code"] == 486 and doc["level"] == "warning"
