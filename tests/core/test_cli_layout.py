"""`mcu layout check` and `mcu layout render` as an operator runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def mcu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcu", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)


def test_check_names_file_line_key_and_fails(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    text = (conf / "layouts.toml").read_text()
    (conf / "layouts.toml").write_text(text.replace("[layouts.\"1x1\"]\n", "[layouts.\"1x1\"]\nzoom = 2\n", 1))
    result = mcu("layout", "check", str(conf))
    assert result.returncode == 1
    line = text.splitlines().index('[layouts."1x1"]') + 2  # the inserted key sits under the header
    assert f"layouts.toml:{line}: layouts.1x1.zoom" in result.stderr, result.stderr


def test_check_passes_on_shipped_config() -> None:
    result = mcu("layout", "check", "conf")
    assert result.returncode == 0 and result.stdout.strip() == "conf: ok", result.stderr


def test_render_writes_png_of_the_asked_size(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    result = mcu("layout", "render", "grid", "--members", "9", "--size", "640x360", "--out", str(out))
    assert result.returncode == 0, result.stderr
    picture = np.asarray(Image.open(out))
    assert picture.shape == (360, 640, 3)
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 9, "distinct tiles and labels"


def test_render_unknown_layout_and_bad_size_fail_clearly(tmp_path: Path) -> None:
    unknown = mcu("layout", "render", "7x7", "--out", str(tmp_path / "x.png"))
    assert unknown.returncode == 1 and "7x7" in unknown.stderr
    bad = mcu("layout", "render", "grid", "--size", "big", "--out", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and "WIDTHxHEIGHT" in bad.stderr
