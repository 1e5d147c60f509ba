"""Compositing peers on the same inputs as the MCU: ffmpeg xstack and GStreamer compositor.

The inputs are the very streams the synthetic sites send: each member's pre-encoded H.264
cycle (mcu.synthetic.media.video_cycle), depacketized back to Annex-B and repeated to the
wanted length, written once to bench/results/inputs/ (raw .h264 and an MP4 remux for
GStreamer's qtdemux). Each peer composes K inputs into a 1280x720 grid and encodes it with
x264 ultrafast/zerolatency at 1500 kbit/s; its CPU (user + system of the child, from
getrusage) is divided by the frames it produced.
"""

from __future__ import annotations

import math
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mcu.rtp.h264 import H264Depacketizer
from mcu.synthetic.identity import yuv_for
from mcu.synthetic.media import video_cycle

INPUTS_DIR = Path(__file__).resolve().parent / "results" / "inputs"
CANVAS = (1280, 720)
BITRATE_KBPS = 1500
GOP = 60
CYCLE_SECONDS = 4.0  # as bench.loadgen.CYCLE_SECONDS: the same bytes the sites send


class PeerMissingError(RuntimeError):
    """A peer binary or GStreamer element is not installed (the message names the package)."""


@dataclass(frozen=True)
class PeerResult:
    peer: str
    inputs: int
    frames: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000.0 * self.cpu_seconds / self.frames if self.frames else math.inf

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds else 0.0


def input_file(number: int, width: int, height: int, fps: int, frames: int,
               folder: Path = INPUTS_DIR) -> tuple[Path, Path]:
    """(raw Annex-B .h264, .mp4) of member `number`'s stream, `frames` long; made once."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"site{number}_{width}x{height}p{fps}_{frames}"
    raw, mp4 = stem.with_suffix(".h264"), stem.with_suffix(".mp4")
    if not raw.exists():
        cycle = video_cycle("H264", width, height, fps, yuv_for(number), str(number),
                            max(1, round(CYCLE_SECONDS * fps)), 1)
        units = [H264Depacketizer().assemble(list(p)) for p in cycle.frames]
        tmp = raw.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.writelines(units[i % len(units)] for i in range(frames))
        tmp.rename(raw)
    if not mp4.exists():
        tmp = mp4.with_suffix(".tmp.mp4")
        subprocess.run([_need("ffmpeg", "ffmpeg"), "-v", "error", "-y", "-f", "h264",
                        "-framerate", str(fps), "-i", str(raw), "-c", "copy", str(tmp)], check=True)
        tmp.rename(mp4)
    return raw, mp4


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise PeerMissingError(f"{binary} not found: apt-get install -y {package}")
    return path


def grid(k: int, canvas: tuple[int, int] = CANVAS) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of k tiles in the smallest square grid, even-sized, row by row."""
    side = math.ceil(math.sqrt(k))
    w = (canvas[0] // side) & ~1
    h = (canvas[1] // side) & ~1
    return [((i % side) * w, (i // side) * h, w, h) for i in range(k)]


def _run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Run to completion; (CPU seconds of the child, wall seconds, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc.stderr


def run_ffmpeg(inputs: list[Path], frames: int, fps: int = 30) -> PeerResult:
    tiles = grid(len(inputs))
    cmd = [_need("ffmpeg", "ffmpeg"), "-nostdin", "-hide_banner", "-y"]
    for path in inputs:
        cmd += ["-f", "h264", "-framerate", str(fps), "-i", str(path)]
    chains = [f"[{i}:v]scale={w}:{h}:flags=bilinear,setsar=1[t{i}]" for i, (_, _, w, h) in enumerate(tiles)]
    layout = "|".join(f"{x}_{y}" for x, y, _, _ in tiles)
    stack = "".join(f"[t{i}]" for i in range(len(tiles)))
    graph = ";".join(chains) + f";{stack}xstack=inputs={len(tiles)}:layout={layout}:fill=black," \
        f"pad={CANVAS[0]}:{CANVAS[1]}[out]"
    cmd += ["-filter_complex", graph, "-map", "[out]", "-frames:v", str(frames), "-c:v", "libx264",
            "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", f"{BITRATE_KBPS}k",
            "-g", str(GOP), "-f", "null", "-"]
    cpu, wall, err = _run_measured(cmd)
    found = re.findall(r"frame=\s*(\d+)", err)
    produced = int(found[-1]) if found else frames
    return PeerResult("ffmpeg", len(inputs), produced, cpu, wall)


def run_gstreamer(inputs: list[Path], frames: int, fps: int = 30) -> PeerResult:
    gst = _need("gst-launch-1.0", "gstreamer1.0-tools")
    if shutil.which("gst-inspect-1.0") and subprocess.run(
            ["gst-inspect-1.0", "--exists", "x264enc"], check=False).returncode != 0:
        raise PeerMissingError("GStreamer x264enc missing: apt-get install -y gstreamer1.0-plugins-ugly")
    tiles = grid(len(inputs))
    pads = " ".join(f"sink_{i}::xpos={x} sink_{i}::ypos={y} sink_{i}::width={w} sink_{i}::height={h}"
                    for i, (x, y, w, h) in enumerate(tiles))
    pipeline = (f"compositor name=c background=black {pads} ! video/x-raw,format=I420,"
                f"width={CANVAS[0]},height={CANVAS[1]},framerate={fps}/1 ! x264enc speed-preset=ultrafast "
                f"tune=zerolatency bitrate={BITRATE_KBPS} key-int-max={GOP} ! fakesink sync=false")
    for i, path in enumerate(inputs):
        pipeline += f" filesrc location={path} ! qtdemux ! h264parse ! avdec_h264 ! queue ! c.sink_{i}"
    cpu, wall, _ = _run_measured([gst, "-q", *pipeline.split()])
    return PeerResult("gstreamer", len(inputs), frames, cpu, wall)


def run_peers(names: tuple[str, ...], members: int, width: int, height: int, fps: int,
              seconds: float) -> list[PeerResult]:
    """Each named peer composing `members` inputs of `seconds` (the MCU's inputs) once."""
    frames = max(1, round(seconds * fps))
    raws, mp4s = zip(*(input_file(n, width, height, fps, frames) for n in range(1, members + 1)))
    out = []
    for name in names:
        if name == "ffmpeg":
            out.append(run_ffmpeg(list(raws), frames, fps))
        elif name == "gstreamer":
            out.append(run_gstreamer(list(mp4s), frames, fps))
        else:
            raise ValueError(f"unknown compositing peer {name!r}")
    return out
