"""Key -> line lookup over TOML text (tomllib gives no positions)."""

from __future__ import annotations

import tomllib

from mcu.layout.tomlpos import KeyLines, format_key

TEXT = '''\
# comment with [brackets] and "quotes"
title = """multi
line [not.a.table]
string"""
[style]
border = 2 # trailing
label.size = 3
[[a]]
x = 1
[[a.b]]
y = 2
[[a]]
x = 'lit # not a comment'
[[a.b]]
y = 3
[[a.b]]
y = 4
[t]
arr = [
  1,
  { k = "v", "quoted key" = 5 },
]
'''


def test_empty_text_falls_back_to_line_one() -> None:
    assert KeyLines("").line(("any", "thing")) == 1


def test_lines_of_keys_tables_and_arrays_of_tables() -> None:
    tomllib.loads(TEXT)  # the fixture is valid TOML
    lines = KeyLines(TEXT)
    assert lines.line(("title",)) == 2
    assert lines.line(("style", "border")) == 6
    assert lines.line(("style", "label", "size")) == 7
    assert lines.line(("a", 0)) == 8 and lines.line(("a", 0, "x")) == 9
    assert lines.line(("a", 0, "b", 0, "y")) == 11
    assert lines.line(("a", 1, "x")) == 13
    assert lines.line(("a", 1, "b", 0)) == 14 and lines.line(("a", 1, "b", 1, "y")) == 17
    assert lines.line(("t", "arr", 0)) == 20
    assert lines.line(("t", "arr", 1, "quoted key")) == 21


def test_unknown_key_falls_back_to_its_nearest_parent() -> None:
    lines = KeyLines(TEXT)
    assert lines.line(("a", 1, "b", 1, "missing")) == 16
    assert ("a", 1, "b", 1) in lines and ("a", 2) not in lines


def test_format_key_quotes_only_what_toml_must() -> None:
    assert format_key(("layouts", "1+5", "regions", 2, "w")) == 'layouts."1+5".regions[2].w'
    assert format_key(("layouts", "2x2", "border_color")) == "layouts.2x2.border_color"
    assert format_key(("sites", 0, "tên")) == 'sites[0]."tên"'
