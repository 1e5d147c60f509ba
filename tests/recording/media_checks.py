"""Checks of a recorded file by tools we did not write: ffmpeg decodes it in full (`-xerror`,
packets counted, since a truncated file can still pass ffprobe), ffprobe reports its streams, and
the decoded audio and pictures are read back for the tones and colours of the sites."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: apt-get install ffmpeg"
    return path


@dataclass
class Probe:
    video_packets: int
    audio_packets: int
    width: int
    height: int
    frame_rate: str
    duration: float
    audio_codec: str


def decodes_in_full(path: Path) -> tuple[bool, str]:
    run = subprocess.run([tool("ffmpeg"), "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
                         check=False, capture_output=True, text=True, timeout=60)
    return run.returncode == 0, run.stderr[-2000:]


def probe(path: Path) -> Probe:
    out = subprocess.run([tool("ffprobe"), "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_type,codec_name,nb_read_packets,width,height,r_frame_rate:format=duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True, timeout=60).stdout
    doc = json.loads(out)
    video = next(s for s in doc["streams"] if s["codec_type"] == "video")
    audio = next(s for s in doc["streams"] if s["codec_type"] == "audio")
    return Probe(int(video["nb_read_packets"]), int(audio["nb_read_packets"]), int(video["width"]),
                 int(video["height"]), video["r_frame_rate"], float(doc["format"].get("duration", 0)),
                 audio["codec_name"])


def decoded_audio(path: Path, rate: int = 48000) -> np.ndarray:
    raw = subprocess.run([tool("ffmpeg"), "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate),
                          "-f", "s16le", "-"], capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, dtype=np.int16)


def tone_levels(pcm: np.ndarray, rate: int, freqs: list[float]) -> dict[float, float]:
    """FFT magnitude at each frequency relative to the median of the spectrum (a peak is >> 1)."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    bins = np.fft.rfftfreq(len(pcm), 1 / rate)
    floor = float(np.median(spectrum)) or 1.0
    out = {}
    for f in freqs:
        near = (bins > f - 5) & (bins < f + 5)
        out[f] = float(spectrum[near].max()) / floor
    return out


def last_picture(path: Path, skip_to: float):  # type: ignore[no-untyped-def]
    """The I420 picture of the recording at `skip_to` seconds (PyAV decodes it)."""
    import av

    from mcu.media.frames import frame_to_planes

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        picture = None
        for frame in container.decode(stream):
            picture = frame_to_planes(frame)
            if frame.time is not None and frame.time >= skip_to:
                break
        return picture
