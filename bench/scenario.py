"""Load scenarios: one TOML file per meeting shape under conf/bench/ (format in bench/README.md).

A scenario says which room the MCU runs (mode, layout, audio rate, video fps/preset), which
members join it (count, codecs, what they send and ask to receive), how they come and go
(ramp, churn), how long the measurement window is, and which peers do the same work in the
same run (ffmpeg/GStreamer compositing, Janus AudioBridge mixing).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "conf" / "bench"
AUDIO_CODECS = ("PCMU", "PCMA", "G722", "opus")
ROOM_MODES = ("auto", "voice", "lecture", "fixed")
AUDIO_RATES = (8000, 16000, 48000)
COMPOSITING_PEERS = ("ffmpeg", "gstreamer")
JANUS_CODECS = ("pcmu", "opus")
PLAN_TIERS = ("audio", "sd360", "hd720", "fhd1080")
PLAN_LAYOUTS = ("voice", "lecture", "grid")


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable, or has a bad or unknown key (named)."""


@dataclass(frozen=True)
class RoomSpec:
    number: str = "4100"
    name: str = "Bench room"
    mode: str = "auto"
    layout: str = "grid"
    audio_rate: int = 48000
    fps: int = 30
    preset: str = "ultrafast"
    chair_pin: str = ""  # set: members enter a PIN; the chair enters this one
    self_view: bool = False  # rooms.toml self_view: shown members see the shared picture


@dataclass(frozen=True)
class MemberSpec:
    count: int = 9
    audio_codec: str = "PCMU"
    video: bool = True
    width: int = 640
    height: int = 360
    fps: int = 30
    receive_width: int = 1280  # what members say they can receive (the MCU's output size)
    receive_height: int = 720
    talkers: int = 1  # members sending a steady tone; the others send room noise
    decoders: int = 0  # members that decode what they receive (the rest count frames only)
    probes: int = 3  # members whose received frames and audio latency are measured
    chair: bool = False  # member 1 enters the chair PIN (lecture mode needs a chair)
    names: str = "site"  # "site": "Site N"; "province": Vietnamese province names (labels)
    joins_per_second: float = 10.0
    generators: int = 1  # load generator processes


@dataclass(frozen=True)
class ChurnSpec:
    interval: float = 0.0  # s between two leave+rejoin events; 0: no churn
    members: int = 1  # members that leave and rejoin at each event


@dataclass(frozen=True)
class PeerSpec:
    compositing: tuple[str, ...] = ()
    janus: str = ""  # "pcmu" or "opus": Janus AudioBridge with plain-RTP participants


@dataclass(frozen=True)
class PlanSpec:
    """How the planner describes this meeting ([[load]] entry); record=False: not a load check."""

    record: bool = False
    layout: str = "grid"
    tiles: int = 16
    tier: str = "hd720"  # what the members receive
    send_tier: str = ""  # what they send, if not `tier` (the generator's 640x360: sd360)
    audio_codec: str = "g711"
    speakers: int = 3


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    seconds: float = 20.0
    quick_seconds: float = 6.0
    warmup: float = 4.0
    room: RoomSpec = field(default_factory=RoomSpec)
    members: MemberSpec = field(default_factory=MemberSpec)
    churn: ChurnSpec = field(default_factory=ChurnSpec)
    peers: PeerSpec = field(default_factory=PeerSpec)
    plan: PlanSpec = field(default_factory=PlanSpec)
    path: str = ""

    def window(self, quick: bool) -> float:
        return self.quick_seconds if quick else self.seconds


_SECTIONS = {"scenario", "room", "members", "churn", "peers", "plan"}


def _take(table: dict, section: str, cls: type, path: str, checks: dict | None = None) -> object:
    fields = cls.__dataclass_fields__
    unknown = set(table) - set(fields)
    if unknown:
        raise ScenarioError(f"{path}: [{section}] unknown key(s) {sorted(unknown)}; "
                            f"known: {sorted(fields)}")
    kwargs = {}
    for key, value in table.items():
        default = fields[key].default
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ScenarioError(f"{path}: [{section}] {key} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ScenarioError(f"{path}: [{section}] {key} must be true or false")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ScenarioError(f"{path}: [{section}] {key} must be a number")
            value = float(value)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ScenarioError(f"{path}: [{section}] {key} must be an integer")
        elif isinstance(default, str) and not isinstance(value, str):
            raise ScenarioError(f"{path}: [{section}] {key} must be a string")
        kwargs[key] = value
    obj = cls(**kwargs)
    for key, allowed in (checks or {}).items():
        value = getattr(obj, key)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if v not in allowed:
                raise ScenarioError(f"{path}: [{section}] {key} = {v!r}: use one of {list(allowed)}")
    return obj


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """A Scenario from TOML text; raises ScenarioError naming the file, section and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ScenarioError(f"{path}: unknown section(s) {sorted(unknown)}")
    head = data.get("scenario")
    if not isinstance(head, dict) or not isinstance(head.get("name"), str) or not head["name"]:
        raise ScenarioError(f"{path}: [scenario] name is required")
    for key in ("seconds", "quick_seconds", "warmup"):
        if key in head and (isinstance(head[key], bool) or not isinstance(head[key], (int, float))
                            or head[key] <= 0):
            raise ScenarioError(f"{path}: [scenario] {key} must be a positive number")
    known = {"name", "description", "seconds", "quick_seconds", "warmup"}
    if set(head) - known:
        raise ScenarioError(f"{path}: [scenario] unknown key(s) {sorted(set(head) - known)}")
    room = _take(data.get("room", {}), "room", RoomSpec, path,
                 {"mode": ROOM_MODES, "audio_rate": AUDIO_RATES})
    members = _take(data.get("members", {}), "members", MemberSpec, path,
                    {"audio_codec": AUDIO_CODECS, "names": ("site", "province")})
    churn = _take(data.get("churn", {}), "churn", ChurnSpec, path)
    peers = _take(data.get("peers", {}), "peers", PeerSpec, path,
                  {"compositing": COMPOSITING_PEERS, "janus": (*JANUS_CODECS, "")})
    plan = _take(data.get("plan", {}), "plan", PlanSpec, path,
                 {"tier": PLAN_TIERS, "send_tier": (*PLAN_TIERS, ""), "layout": PLAN_LAYOUTS})
    assert isinstance(members, MemberSpec)
    if members.count < 2:
        raise ScenarioError(f"{path}: [members] count must be at least 2")
    for key in ("talkers", "decoders", "probes"):
        if not 0 <= getattr(members, key) <= members.count:
            raise ScenarioError(f"{path}: [members] {key} must be within 0..count")
    if members.generators < 1 or members.joins_per_second <= 0:
        raise ScenarioError(f"{path}: [members] generators >= 1 and joins_per_second > 0")
    assert isinstance(churn, ChurnSpec)
    if churn.interval < 0 or churn.members < 0 or churn.members >= members.count:
        raise ScenarioError(f"{path}: [churn] interval >= 0 and 0 <= members < count")
    return Scenario(
        name=head["name"], description=str(head.get("description", "")),
        seconds=float(head.get("seconds", 20.0)), quick_seconds=float(head.get("quick_seconds", 6.0)),
        warmup=float(head.get("warmup", 4.0)),
        room=room, members=members, churn=churn, peers=peers, plan=plan,  # type: ignore[arg-type]
        path=path,
    )


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read scenario file: {exc}") from exc
    return parse_scenario(text, str(p))


def scenario_paths(folder: Path = SCENARIO_DIR) -> dict[str, Path]:
    """Scenario name (file stem) -> path, in file-name order."""
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def find_scenario(name: str, folder: Path = SCENARIO_DIR) -> Scenario:
    """By file stem in `folder`, or by path."""
    paths = scenario_paths(folder)
    if name in paths:
        return load_scenario(paths[name])
    if Path(name).exists():
        return load_scenario(name)
    raise ScenarioError(f"no scenario {name!r}: known ones are {', '.join(paths)} (or give a path)")
