"""Unit costs of MCU work on one machine: the calibration file the planner multiplies by.

The file is TOML; `mcu bench calibrate` writes it on the target machine with `save()`, and
`conf/calibration.toml` ships the figures measured on the development box (DESIGN.md,
"Measured costs"). Every cost is CPU time of one core:

    format = 1
    [machine]   name, cores (whole CPUs), usable_fraction (0..1: the share of the machine
                the planner may fill; 0.7 leaves 30% headroom), measured (free text: when),
                source (free text: how)
    [video.decode_ms]            H.264 decode, ms per frame, keys sd360 / hd720 / fhd1080
    [video.encode_ms.PRESET]     libx264 encode, ms per frame, per preset (ultrafast,
                                 superfast, veryfast), keys sd360 / hd720 / fhd1080
    [compose]   scale_ms_per_tile  scaling one decoded picture to its tile size, per frame
                blit_ms_per_tile   copying one scaled tile into one view's canvas, per frame
                view_ms            what one view frame costs on the conference path beyond
                                   its encode and tile copies (Python composing it, the
                                   encoder's frame wrapping, payloading, each viewer's RTP)
    [audio]     mix_us_per_member  N-1 mix work per member per 20 ms tick
    [audio.decode_us] / [audio.encode_us]   per 20 ms frame, keys g711 / g722 / opus
    [network]   rtp_us_per_packet  receive or send one RTP packet (parse, route, syscall)
                video_in_us_per_packet   a received video packet beyond that (jitter
                                   buffer, depacketizer; its decode is counted apart)
                video_out_us_per_packet  a sent video packet beyond that (each viewer's
                                   header rewrite and serialisation of a shared picture)
    [overhead]  video_room_ms      ms per second a meeting with video costs beyond its unit
                                   work: the video phase on worker threads (hand-offs, GIL
                                   contention) and in real time (wake-ups, cold caches)
    [notes]     "dotted.key" = "where this figure came from"
    [[load]]    measured load scenarios (see LoadScenario): one meeting of `members` members
                run by the benchmark suite, and the CPU the MCU process used, in cores
                (CPU seconds per second); send_tier, video_kbps_in and video_kbps_out say
                what the members really sent and received (optional).
                `mcu.plan.loadcheck.check_loads` compares the planner's prediction for
                each with the measured figure.

Every unit cost is required (a partial calibration would silently plan with zeros); a
missing, negative or unknown key is an error naming the file, line and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mcu.plan.schema import Locate, Reader
from mcu.plan.tiers import AUDIO_CODECS, DEFAULT_FPS, PRESETS, TIERS, VIDEO_TIERS
from mcu.tomlfile import ConfigError, ConfigIssue, TomlFile

FORMAT_VERSION = 1
DEFAULT_CALIBRATION = Path(__file__).resolve().parents[2] / "conf" / "calibration.toml"
LAYOUT_MODES: tuple[str, ...] = ("voice", "lecture", "grid")


@dataclass(frozen=True)
class LoadScenario:
    """One measured meeting: every member sends and receives the same tier and codec."""

    name: str
    members: int
    layout: str = "grid"
    tiles: int = 16
    tier: str = "hd720"
    fps: float = DEFAULT_FPS
    audio_codec: str = "g711"
    preset: str = "ultrafast"
    speakers: int = 3
    measured_cores: float = 0.0
    send_tier: str = ""  # what each member sends, if not `tier` (the generator sends 360p)
    video_kbps_in: float = 0.0  # measured video bitrate of one member's stream to the MCU; 0: tier default
    video_kbps_out: float = 0.0  # measured video bitrate the MCU sent each member; 0: tier default


@dataclass(frozen=True)
class Calibration:
    cores: int
    usable_fraction: float
    decode_ms: dict[str, float]
    encode_ms: dict[str, dict[str, float]]
    scale_ms_per_tile: float
    blit_ms_per_tile: float
    mix_us_per_member: float
    audio_decode_us: dict[str, float]
    audio_encode_us: dict[str, float]
    rtp_us_per_packet: float
    view_ms: float
    video_room_ms: float
    video_in_us_per_packet: float
    video_out_us_per_packet: float
    machine_name: str = ""
    measured: str = ""
    source: str = ""
    notes: dict[str, str] = field(default_factory=dict)
    loads: tuple[LoadScenario, ...] = ()
    path: str = ""

    @property
    def usable_cores(self) -> float:
        return self.cores * self.usable_fraction


def load_calibration(path: str | Path = DEFAULT_CALIBRATION) -> Calibration:
    """Read and validate a calibration file; raises ConfigError listing every problem."""
    toml = TomlFile.load(path)
    return validate_calibration(toml.data, toml.issue, str(path))


def validate_calibration(data: dict, locate: Locate | None = None, path: str = "") -> Calibration:
    """Check a parsed calibration table; `locate(key_path, message)` makes each ConfigIssue."""
    if locate is None:
        def locate(key_path: tuple, message: str) -> ConfigIssue:
            return ConfigIssue(path or "<calibration>", 0, ".".join(map(str, key_path)), message)
    r = Reader(locate)
    r.unknown_keys(data, (), {"format", "machine", "video", "compose", "audio", "network", "overhead",
                                "notes", "load"})
    version = r.integer(data, ("format",))
    if "format" in data and version != FORMAT_VERSION and not r.issues:
        r.fail(("format",), f"unsupported calibration format {version} (this planner reads {FORMAT_VERSION})")

    machine = r.table(data, ("machine",), {"name", "cores", "usable_fraction", "measured", "source"})
    cores = r.integer(machine, ("machine", "cores"), low=1)
    usable = r.number(machine, ("machine", "usable_fraction"), low=0.0, high=1.0, low_open=True)

    video = r.table(data, ("video",), {"decode_ms", "encode_ms"})
    decode = _costs(r, video, ("video", "decode_ms"), VIDEO_TIERS)
    if "encode_ms" not in video:
        r.fail(("video", "encode_ms"), f"is required (a table per preset: {', '.join(PRESETS)})")
    enc_table = r.table(video, ("video", "encode_ms"), set(PRESETS))
    encode = {p: _costs(r, enc_table, ("video", "encode_ms", p), VIDEO_TIERS)
              for p in PRESETS if p in enc_table}
    if "encode_ms" in video and not encode:
        r.fail(("video", "encode_ms"), f"needs at least one preset table ({', '.join(PRESETS)})")

    compose = r.table(data, ("compose",), {"scale_ms_per_tile", "blit_ms_per_tile", "view_ms"})
    scale = r.number(compose, ("compose", "scale_ms_per_tile"), low=0.0)
    blit = r.number(compose, ("compose", "blit_ms_per_tile"), low=0.0)
    view = r.number(compose, ("compose", "view_ms"), low=0.0)

    audio = r.table(data, ("audio",), {"mix_us_per_member", "decode_us", "encode_us"})
    mix = r.number(audio, ("audio", "mix_us_per_member"), low=0.0)
    adec = _costs(r, audio, ("audio", "decode_us"), AUDIO_CODECS)
    aenc = _costs(r, audio, ("audio", "encode_us"), AUDIO_CODECS)

    network = r.table(data, ("network",), {"rtp_us_per_packet", "video_in_us_per_packet",
                                           "video_out_us_per_packet"})
    rtp = r.number(network, ("network", "rtp_us_per_packet"), low=0.0)
    video_in = r.number(network, ("network", "video_in_us_per_packet"), low=0.0)
    video_out = r.number(network, ("network", "video_out_us_per_packet"), low=0.0)

    overhead = r.table(data, ("overhead",), {"video_room_ms"})
    room = r.number(overhead, ("overhead", "video_room_ms"), low=0.0)

    notes_table = r.table(data, ("notes",))
    notes: dict[str, str] = {}
    for key in notes_table:
        notes[key] = r.string(notes_table, ("notes", key))

    loads = _loads(r, data)
    r.raise_if_any()
    return Calibration(
        cores=cores, usable_fraction=usable, decode_ms=decode, encode_ms=encode,
        scale_ms_per_tile=scale, blit_ms_per_tile=blit, mix_us_per_member=mix,
        audio_decode_us=adec, audio_encode_us=aenc, rtp_us_per_packet=rtp, view_ms=view,
        video_room_ms=room, video_in_us_per_packet=video_in, video_out_us_per_packet=video_out,
        machine_name=r.string(machine, ("machine", "name")),
        measured=r.string(machine, ("machine", "measured")),
        source=r.string(machine, ("machine", "source")),
        notes=notes, loads=loads, path=path,
    )


def _costs(r: Reader, parent: dict, path: tuple, keys: tuple[str, ...]) -> dict[str, float]:
    if path[-1] not in parent:
        r.fail(path, f"is required (a table with {', '.join(keys)})")
        return {k: 0.0 for k in keys}
    table = r.table(parent, path, set(keys))
    return {k: r.number(table, (*path, k), low=0.0) for k in keys}


_LOAD_KEYS = {"name", "members", "layout", "tiles", "tier", "fps", "audio_codec", "preset",
              "speakers", "measured_cores", "send_tier", "video_kbps_in", "video_kbps_out"}


def _loads(r: Reader, data: dict) -> tuple[LoadScenario, ...]:
    raw = data.get("load", [])
    if not isinstance(raw, list):
        r.fail(("load",), "must be an array of tables ([[load]])")
        return ()
    out: list[LoadScenario] = []
    for i, entry in enumerate(raw):
        path = ("load", i)
        if not isinstance(entry, dict):
            r.fail(path, "must be a table")
            continue
        r.unknown_keys(entry, path, _LOAD_KEYS)
        out.append(LoadScenario(
            name=r.string(entry, (*path, "name"), f"load {i + 1}"),
            members=r.integer(entry, (*path, "members"), low=2),
            layout=r.choice(entry, (*path, "layout"), LAYOUT_MODES, "grid", "layout mode"),
            tiles=r.integer(entry, (*path, "tiles"), 16, low=1),
            tier=r.choice(entry, (*path, "tier"), TIERS, "hd720", "quality tier"),
            fps=r.number(entry, (*path, "fps"), DEFAULT_FPS, low=0.0, high=120.0, low_open=True),
            audio_codec=r.choice(entry, (*path, "audio_codec"), AUDIO_CODECS, "g711", "audio codec"),
            preset=r.choice(entry, (*path, "preset"), PRESETS, "ultrafast", "preset"),
            speakers=r.integer(entry, (*path, "speakers"), 3, low=1),
            measured_cores=r.number(entry, (*path, "measured_cores"), low=0.0, low_open=True),
            send_tier=r.choice(entry, (*path, "send_tier"), TIERS, "", "quality tier"),
            video_kbps_in=r.number(entry, (*path, "video_kbps_in"), 0.0, low=0.0),
            video_kbps_out=r.number(entry, (*path, "video_kbps_out"), 0.0, low=0.0),
        ))
    return tuple(out)


def save_calibration(cal: Calibration, path: str | Path) -> None:
    """Write `cal` in the format load_calibration reads (what `mcu bench calibrate` calls)."""
    Path(path).write_text(dumps_calibration(cal), encoding="utf-8")


def dumps_calibration(cal: Calibration) -> str:
    lines = [
        "# Unit costs for `mcu plan` (format described in mcu/plan/calibration.py).",
        f"format = {FORMAT_VERSION}",
        "",
        "[machine]",
        f"name = {_q(cal.machine_name)}",
        f"cores = {cal.cores}",
        f"usable_fraction = {cal.usable_fraction!r}",
        f"measured = {_q(cal.measured)}",
        f"source = {_q(cal.source)}",
        "",
        "[video.decode_ms]",
        *(f"{k} = {v!r}" for k, v in cal.decode_ms.items()),
    ]
    for preset, costs in cal.encode_ms.items():
        lines += ["", f"[video.encode_ms.{preset}]", *(f"{k} = {v!r}" for k, v in costs.items())]
    lines += [
        "", "[compose]",
        f"scale_ms_per_tile = {cal.scale_ms_per_tile!r}",
        f"blit_ms_per_tile = {cal.blit_ms_per_tile!r}",
        f"view_ms = {cal.view_ms!r}",
        "", "[audio]",
        f"mix_us_per_member = {cal.mix_us_per_member!r}",
        "", "[audio.decode_us]", *(f"{k} = {v!r}" for k, v in cal.audio_decode_us.items()),
        "", "[audio.encode_us]", *(f"{k} = {v!r}" for k, v in cal.audio_encode_us.items()),
        "", "[network]",
        f"rtp_us_per_packet = {cal.rtp_us_per_packet!r}",
        f"video_in_us_per_packet = {cal.video_in_us_per_packet!r}",
        f"video_out_us_per_packet = {cal.video_out_us_per_packet!r}",
        "", "[overhead]",
        f"video_room_ms = {cal.video_room_ms!r}",
    ]
    if cal.notes:
        lines += ["", "[notes]", *(f"{_q(k)} = {_q(v)}" for k, v in cal.notes.items())]
    for load in cal.loads:
        lines += [
            "", "[[load]]",
            f"name = {_q(load.name)}",
            f"members = {load.members}",
            f"layout = {_q(load.layout)}",
            f"tiles = {load.tiles}",
            f"tier = {_q(load.tier)}",
            f"fps = {load.fps!r}",
            f"audio_codec = {_q(load.audio_codec)}",
            f"preset = {_q(load.preset)}",
            f"speakers = {load.speakers}",
            f"measured_cores = {load.measured_cores!r}",
        ]
        if load.send_tier:
            lines.append(f"send_tier = {_q(load.send_tier)}")
        lines += [f"{key} = {value!r}" for key, value in (("video_kbps_in", load.video_kbps_in),
                                                         ("video_kbps_out", load.video_kbps_out)) if value]
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


__all__ = [
    "DEFAULT_CALIBRATION",
    "FORMAT_VERSION",
    "Calibration",
    "ConfigError",
    "LoadScenario",
    "dumps_calibration",
    "load_calibration",
    "save_calibration",
    "validate_calibration",
]
