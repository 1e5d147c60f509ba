"""mcu.tomlfile: key path -> line over TOML text (tomllib gives no positions), and located issues."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.tomlfile import ConfigError, ConfigIssue, TomlFile, dotted, read_text

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

LAYOUTS = '''\
[layouts."1+5"]
description = "one big, five small"
[[layouts."1+5".regions]]
x = 0
[[layouts."1+5".regions]]
x = 240
[[layouts."1+5".regions]]
x = 0
w = 120 #@
[layouts."a.b"]
"x.y" = 1
c.'d e'.f = 2
[groups]
wide = [
  "1+5",
  "a.b", "2x2",
]
points = [[0, 1], [2,
  3]]
when = 1979-05-27 07:32:00
after = [1979-05-27 07:32:00, "x"]
sites = [{ id = "a" },
         { id = "b", name = "B" }]
'''


def load(tmp_path: Path, text: str) -> TomlFile:
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    return TomlFile.load(path)


# ----- rejected files ------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        TomlFile.load(tmp_path / "absent.toml")
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.key) == (str(tmp_path / "absent.toml"), 0, "")
    assert issue.message == "file not found"


def test_directory_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_text(tmp_path)


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_bytes('name = "Lào"'.encode("cp1258"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        TomlFile.load(path)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[a]\nb = \n", 2),  # tomllib says "at line 2"
        ("a = 1\nb = [1,\n", 2),  # "at end of document": the last line
        ("a = ", 1),
    ],
)
def test_syntax_error_names_its_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        TomlFile.parse(text, "conf/x.toml")
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.key) == ("conf/x.toml", line, "")
    assert "not valid TOML" in issue.message


# ----- line_of -------------------------------------------------------------------------------


def test_empty_text_finds_nothing() -> None:
    assert TomlFile.parse("").line_of(("any", "thing")) == 0


def test_lines_of_keys_tables_and_arrays_of_tables() -> None:
    toml = TomlFile.parse(TEXT)
    assert toml.line_of(("title",)) == 2
    assert toml.line_of(("style", "border")) == 6
    assert toml.line_of(("style", "label", "size")) == 7
    assert toml.line_of(("a", 0)) == 8 and toml.line_of(("a", 0, "x")) == 9
    assert toml.line_of(("a", 0, "b", 0, "y")) == 11
    assert toml.line_of(("a", 1, "x")) == 13
    assert toml.line_of(("a", 1, "b", 0)) == 14 and toml.line_of(("a", 1, "b", 1, "y")) == 17


def test_text_inside_strings_and_comments_is_not_a_key() -> None:
    toml = TomlFile.parse(TEXT)
    assert toml.line_of(("not", "a", "table")) == 0
    assert toml.line_of(("brackets",)) == 0


def test_elements_of_inline_arrays_and_inline_tables() -> None:
    toml = TomlFile.parse(TEXT)
    assert toml.line_of(("t", "arr", 0)) == 20
    assert toml.line_of(("t", "arr", 1)) == 21
    assert toml.line_of(("t", "arr", 1, "quoted key")) == 21
    assert toml.line_of(("t", "arr", 2)) == 19  # no such element: the array's own line


def test_unknown_key_falls_back_to_its_nearest_parent() -> None:
    toml = TomlFile.parse(TEXT)
    assert toml.line_of(("a", 1, "b", 1, "missing")) == 16
    assert toml.line_of(("a", 2, "x")) == 8  # the array of tables itself starts at its first [[a]]
    assert toml.line_of(("nowhere", "x")) == 0


def test_quoted_header_parts_with_dots_and_plus() -> None:
    toml = TomlFile.parse(LAYOUTS)
    w_line = next(i for i, line in enumerate(LAYOUTS.splitlines(), 1) if "#@" in line)
    assert toml.line_of(("layouts", "1+5")) == 1
    assert toml.line_of(("layouts", "1+5", "regions", 0, "x")) == 4
    assert toml.line_of(("layouts", "1+5", "regions", 1)) == 5
    assert toml.line_of(("layouts", "1+5", "regions", 2, "w")) == w_line
    assert toml.line_of(("layouts", "1+5", "regions", 2, "h")) == 7  # missing key: its region


def test_quoted_keys_with_dots_and_dotted_keys() -> None:
    toml = TomlFile.parse(LAYOUTS)
    assert toml.data["layouts"]["a.b"]["x.y"] == 1
    assert toml.line_of(("layouts", "a.b")) == 10
    assert toml.line_of(("layouts", "a.b", "x.y")) == 11
    assert toml.line_of(("layouts", "a", "b")) == 1  # the dot was quoted: only "layouts" is found
    assert toml.line_of(("layouts", "a.b", "c", "d e", "f")) == 12
    assert toml.line_of(("layouts", "a.b", "c", "other")) == 12  # c is created by the dotted key


def test_multi_line_and_nested_arrays() -> None:
    toml = TomlFile.parse(LAYOUTS)
    assert [toml.line_of(("groups", "wide", i)) for i in range(3)] == [15, 16, 16]
    assert toml.line_of(("groups", "points", 1, 1)) == 19
    assert toml.line_of(("groups", "points", 1, 0)) == 18


def test_date_time_with_a_space_is_one_value() -> None:
    toml = TomlFile.parse(LAYOUTS)
    assert toml.line_of(("groups", "when")) == 20
    assert toml.line_of(("groups", "after", 1)) == 21
    assert toml.line_of(("groups", "after", 2)) == 21  # no third element: the key's line


def test_array_of_inline_tables() -> None:
    toml = TomlFile.parse(LAYOUTS)
    assert toml.line_of(("groups", "sites", 0, "id")) == 22
    assert toml.line_of(("groups", "sites", 1, "name")) == 23


def test_super_table_after_its_sub_table_is_found_at_its_own_header() -> None:
    toml = TomlFile.parse("[a.b]\nx = 1\n[a]\ny = 2\n")
    assert toml.line_of(("a", "y")) == 4
    assert toml.line_of(("a", "missing")) == 3


def test_escaped_quoted_key() -> None:
    toml = TomlFile.parse('[s]\n"t\\u00ean" = 1\n\'raw\\n\' = 2\n')
    assert toml.line_of(("s", "tên")) == 2
    assert toml.line_of(("s", "raw\\n")) == 3


# ----- issues and key names ------------------------------------------------------------------


def test_issue_names_file_line_and_key(tmp_path: Path) -> None:
    toml = load(tmp_path, LAYOUTS)
    issue = toml.issue(("layouts", "1+5", "regions", 2, "w"), "too wide")
    assert issue == ConfigIssue(str(tmp_path / "x.toml"), 9, 'layouts."1+5".regions[2].w', "too wide")
    assert str(issue) == f'{tmp_path / "x.toml"}:9: layouts."1+5".regions[2].w: too wide'


def test_issue_without_line_or_key() -> None:
    assert str(ConfigIssue("f.toml", 0, "", "file not found")) == "f.toml: file not found"
    assert str(ConfigIssue("f.toml", 3, "", "bad")) == "f.toml:3: bad"
    assert str(ConfigIssue("f.toml", 0, "a.b", "bad")) == "f.toml: a.b: bad"


def test_dotted_quotes_only_what_toml_must() -> None:
    assert dotted(()) == ""
    assert dotted(("layouts", "1+5", "regions", 2, "w")) == 'layouts."1+5".regions[2].w'
    assert dotted(("layouts", "2x2", "border_color")) == "layouts.2x2.border_color"
    assert dotted(("sites", 0, "tên")) == 'sites[0]."tên"'
    assert dotted(("a", "x.y", 'say "hi"')) == 'a."x.y"."say \\"hi\\""'
    assert dotted(("sip", "listen", 1, "port")) == "sip.listen[1].port"
