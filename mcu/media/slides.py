"""The operator's slides: a PNG or JPEG image (decoded by PyAV) or a PDF (rendered page by page
by poppler's `pdftoppm`, Debian poppler-utils) as I420 pictures the content encoders take.

Pages are rendered when asked for (a 200-page report is not rendered up front) and at most
MAX_WIDTH x MAX_HEIGHT; odd sizes are trimmed to even for 4:2:0.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import av

from mcu.media.frames import I420, frame_to_planes

MAX_WIDTH, MAX_HEIGHT = 1920, 1080
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PDF_SUFFIX = ".pdf"
RENDER_TIMEOUT = 30.0  # s for pdftoppm to render one page


class SlidesError(Exception):
    """A file the operator named cannot be shown; the message says why and what to do."""


def _image(path: Path) -> I420:
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, OSError) as exc:
        raise SlidesError(f"{path.name}: not a readable image ({exc})") from None
    width, height = frame.width, frame.height
    scale = min(1.0, MAX_WIDTH / width, MAX_HEIGHT / height)
    width, height = max(2, int(width * scale) & ~1), max(2, int(height * scale) & ~1)
    return frame_to_planes(frame.reformat(width=width, height=height, format="yuv420p"))


def pdf_page_count(path: Path) -> int:
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        raise SlidesError("pdfinfo is not installed (Debian package poppler-utils)")
    try:
        out = subprocess.run([pdfinfo, str(path)], capture_output=True, text=True, timeout=RENDER_TIMEOUT,
                             check=True).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        raise SlidesError(f"{path.name}: not a readable PDF ({exc})") from None
    for line in out.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise SlidesError(f"{path.name}: pdfinfo reports no page count")


def render_pdf_page(path: Path, page: int) -> I420:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise SlidesError("pdftoppm is not installed (Debian package poppler-utils)")
    with tempfile.TemporaryDirectory(prefix="mcu-slides-") as tmp:
        stem = Path(tmp) / "page"
        try:
            subprocess.run([pdftoppm, "-png", "-singlefile", "-f", str(page), "-l", str(page),
                            "-scale-to-x", str(MAX_WIDTH), "-scale-to-y", "-1", str(path), str(stem)],
                           capture_output=True, timeout=RENDER_TIMEOUT, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            raise SlidesError(f"{path.name}: page {page} could not be rendered ({exc})") from None
        return _image(stem.with_suffix(".png"))


class Slides:
    """One file the operator presents, and the page shown."""

    def __init__(self, path: Path) -> None:
        try:
            readable = path.is_file()
        except (OSError, ValueError):  # a name too long for the filesystem, a NUL in it
            readable = False
        if not readable:
            raise SlidesError(f"{str(path)[:200]}: no such file (give a path the MCU process can read)")
        suffix = path.suffix.lower()
        if suffix not in (*IMAGE_SUFFIXES, PDF_SUFFIX):
            raise SlidesError(f"{path.name}: only PNG, JPEG and PDF files can be presented")
        self.path = path
        self.is_pdf = suffix == PDF_SUFFIX
        self.pages = pdf_page_count(path) if self.is_pdf else 1
        self.page = 0
        self.picture: I420 | None = None
        self.show(1)

    def show(self, page: int) -> I420:
        if not 1 <= page <= self.pages:
            raise SlidesError(f"{self.path.name} has pages 1 to {self.pages}, not {page}")
        self.picture = render_pdf_page(self.path, page) if self.is_pdf else _image(self.path)
        self.page = page
        return self.picture
