"""Admission from the capacity model: one site more never breaks the meeting in progress.

Before a call joins (or a layout changes) the MCU predicts the machine's CPU with the planner's
own arithmetic (`mcu.plan.cpu.meeting_cpu` times this machine's calibration) for the conference
as it runs, plus the newcomer. Sans-I/O: the conference, the clock and the process CPU time
come in as arguments; decisions go out as plain values the server acts on.

    describe_conference()   running rooms -> planner MeetingShapes (what `mcu plan` would see)
    LoadModel               a calibration loaded once; predicted cores of the whole box
    AdmissionController     decide() -> Admit | Degrade | Refuse; sample() for the metrics
    CpuSampler              measured cores: process CPU seconds over wall seconds, last 5 s

The order of `AdmissionController.decide`, with limit = ceiling x cores for the chair, roster
sites (sites.toml) and calls the MCU dials, and (ceiling - reserve) x cores for anyone else:

    1. predicted load with the newcomer as it offers <= limit          -> Admit
    2. else the degrade steps of [admission] degrade, in order, each on top of the ones before,
       on the newcomer's own picture only (the meeting in progress keeps its settings):
         "fps"   its views at degrade_fps (15) frames per second
         "tier"  its views at most degrade_tier (sd360 = 640x360)
       the first step whose prediction is <= limit                    -> Degrade(step, fps, tier)
    3. else                                                           -> Refuse(retry_after, reason)
       reason "reserve": under the ceiling, but the rest is kept for chair and roster sites;
       "measured": the model fits, but the measured load plus the newcomer does not
       (measured_guard); "ceiling": the model itself passes the ceiling.

With measured_guard the load a decision compares is max(predicted, measured) + the newcomer's
predicted cost, so a calibration that underestimates this machine cannot fill it.

How the running conference maps onto the planner (mcu/plan/cpu.py docstring):

* every member of a room who has not left (joined or keying its PIN: it will be in the meeting);
* what a member receives: its encoder's canvas (width x height -> sd360 / hd720 / fhd1080) and
  fps; what it sends: the size of its last decoded picture, else the size most decoded members
  of the box send, else what it receives; a member sending video it does not receive is planned
  as receiving the same tier (the planner has no receive-only or send-only site: this
  over-predicts slightly); no accepted video line: audio only;
* its audio codec: PCMU/PCMA -> g711, G722 -> g722, opus -> opus;
* the room's layout state (RoomVideo.state): auto/voice/fixed -> planner "grid" with T = the
  capacity of the layout the engine picks for the video members (minus one without self view);
  lecture with a chair present -> planner "lecture", the chair first, chair_tiles = the capacity
  of [switching] lecture_chair_layout, audience_tiles = that of the room's layout;
* the encoder preset of [video] (a preset the calibration lacks: its costliest one), the mix
  size of [audio]. Content sharing and recording are not running features yet: not planned.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from mcu.calls.streams import Streams
from mcu.conference.engine import Conference
from mcu.conference.member import Member, MemberState
from mcu.conference.room import Room
from mcu.conference.video import encoder_config_for
from mcu.config import AdmissionSection, Config
from mcu.layout.model import ROLE_CHAIR, RoomMode
from mcu.log import event
from mcu.plan.calibration import Calibration, load_calibration
from mcu.plan.cpu import LayoutSpec, MeetingShape, meeting_cpu
from mcu.plan.tiers import AUDIO_ONLY, DEFAULT_FPS, PRESETS, RESOLUTIONS, SiteMedia, tier_rank
from mcu.tomlfile import ConfigError

log = logging.getLogger("mcu.admission")

DEFAULT_AUDIO_CODEC = "g722"  # what most room systems negotiate, when a newcomer's codec is unknown
DEFAULT_VIDEO_TIER = "hd720"  # the MCU's largest canvas (conference.video.CANVAS_TIERS)
REFUSAL_STATUS = 503
REFUSAL_PHRASE = "MCU At Capacity"
REASONS: tuple[str, ...] = ("ceiling", "reserve", "measured", "behind")
BEHIND_FRACTION = 0.05  # of frame times skipped or audio ticks late, in one second
BEHIND_SECONDS = 3.0  # that long before new joins are refused for it
STEPS: tuple[str, ...] = ("fps", "tier")
MEASURE_WINDOW = 5.0  # seconds of process CPU averaged into the measured load
PLANNER_AUDIO = {"pcmu": "g711", "pcma": "g711", "g711": "g711", "g722": "g722", "opus": "opus"}


class CalibrationUnavailable(Exception):
    """The calibration file admission needs is missing or invalid (the message says which and why)."""


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Admit:
    predicted_cores: float  # the box with the newcomer; nan when admission is off


@dataclass(frozen=True)
class Degrade:
    """Admit, but the newcomer's own picture (its views) at most `fps` and at most `tier`.

    The conference applies it when the member joins: its encoder config at min(fps, room fps)
    and a canvas no larger than RESOLUTIONS[tier] (None: unchanged)."""

    step: str  # the last step applied: "fps" or "tier" (the metric label)
    fps: float | None
    tier: str | None
    predicted_cores: float


@dataclass(frozen=True)
class Refuse:
    """Answer 503 with Retry-After: `retry_after` seconds."""

    retry_after: int
    reason: str  # one of REASONS (the metric label)
    predicted_cores: float
    limit_cores: float
    status: int = REFUSAL_STATUS
    phrase: str = REFUSAL_PHRASE

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [("Retry-After", str(self.retry_after))]


Decision = Admit | Degrade | Refuse


@dataclass(frozen=True)
class Candidate:
    """Who wants in and what it offers; None: not known yet (video at DEFAULT_VIDEO_TIER assumed)."""

    chair: bool = False
    roster: bool = False  # a sites.toml entry
    dialled: bool = False  # the MCU (operator, roster dial) places the call
    video: bool | None = None
    tier: str | None = None  # what it receives: sd360 / hd720 / fhd1080
    fps: float | None = None
    send_tier: str | None = None
    audio_codec: str | None = None  # SDP (PCMU, G722, opus) or planner (g711, g722, opus) name

    @property
    def priority(self) -> bool:
        return self.chair or self.roster or self.dialled


def candidate_for(conference: Conference, uri: str, display_name: str = "",
                  negotiation: Streams | None = None, *, fps: int = 30,
                  preset: str = "ultrafast", dialled: bool = False) -> Candidate:
    """The candidate for a caller (or callee): roster and chair from sites.toml, media from the
    negotiation when there is one (the tier the room would send it, as Room.add will)."""
    site = conference.roster_site(uri, display_name)
    base = Candidate(chair=site is not None and site.role == ROLE_CHAIR, roster=site is not None,
                     dialled=dialled)
    if negotiation is None:
        return base
    audio = negotiation.first("audio")
    codec = audio.codecs[0].name if audio is not None and audio.codecs else None
    video = negotiation.first("video")
    if video is None or not video.codecs or not (video.we_send or video.we_receive):
        return replace(base, video=False, audio_codec=codec)
    config = encoder_config_for(video, fps, preset, 10.0)
    return replace(base, video=True, tier=tier_of(config.width, config.height), fps=float(config.fps),
                   audio_codec=codec)


# --------------------------------------------------------------------------- conference -> shapes


def tier_of(width: int, height: int) -> str:
    """The planner tier of a picture size: up to 640x360 sd360, up to 1280x720 hd720, else fhd1080."""
    pixels = width * height
    for tier, (w, h) in RESOLUTIONS.items():
        if pixels <= w * h:
            return tier
    return "fhd1080"


def planner_audio(codec: str | None) -> str:
    return PLANNER_AUDIO.get((codec or "").lower(), DEFAULT_AUDIO_CODEC)


def _sent_tier(member: Member) -> str | None:
    """The size of the member's last decoded picture, if it was ever decoded."""
    video_in = member.video_in
    picture = video_in.picture if video_in is not None else None
    if picture is None:
        return None
    height, width = picture.y.shape[:2]
    return tier_of(int(width), int(height))


def member_media(member: Member, default_send: str | None = None, fps: float = DEFAULT_FPS) -> SiteMedia:
    """What the planner needs of one member (see the module docstring)."""
    audio = planner_audio(member.audio_format.name if member.audio_format else None)
    out = member.video_out
    if out is None and member.video_in is None:
        return SiteMedia(AUDIO_ONLY, fps, audio)
    sent = _sent_tier(member) if member.video_in is not None else None
    if out is not None:
        tier, rate = tier_of(out.config.width, out.config.height), float(out.config.fps)
    else:
        tier, rate = sent or default_send or DEFAULT_VIDEO_TIER, fps
    send = (sent or default_send or tier) if member.video_in is not None else tier
    return SiteMedia(tier, rate, audio, send if send != tier else "")


def candidate_media(candidate: Candidate, default_send: str | None, fps: float) -> SiteMedia:
    audio = planner_audio(candidate.audio_codec)
    if candidate.video is False:
        return SiteMedia(AUDIO_ONLY, fps, audio)
    tier = candidate.tier or DEFAULT_VIDEO_TIER
    send = candidate.send_tier or default_send or tier
    return SiteMedia(tier, candidate.fps or fps, audio, send if send != tier else "")


@dataclass(frozen=True)
class Joining:
    """A member not in the conference yet, planned into `room`."""

    room: str
    media: SiteMedia
    chair: bool = False


@dataclass(frozen=True)
class LayoutChange:
    """A layout change not applied yet (None: as now)."""

    room: str
    mode: str | None = None
    layout: str | None = None
    self_view: bool | None = None


def _present(room: Room) -> list[Member]:
    return [m for m in room.members.values() if m.state is not MemberState.LEFT]


def default_send_tier(conference: Conference) -> str | None:
    """The size most decoded members of the box send (None before any picture was decoded)."""
    seen = Counter(t for room in conference.rooms.values() for m in _present(room)
                   if (t := _sent_tier(m)) is not None)
    return seen.most_common(1)[0][0] if seen else None


def room_shape(room: Room, members: list[tuple[SiteMedia, bool]], preset: str, speakers: int,
               change: LayoutChange | None = None) -> MeetingShape:
    """The planner's meeting for one room: `members` as (media, chair), in join order."""
    state = room.video.state
    mode = RoomMode(change.mode) if change and change.mode else state.mode
    layout_name = change.layout if change and change.layout else state.layout
    self_view = change.self_view if change and change.self_view is not None else state.self_view
    spare = 0 if self_view else 1
    video = sum(1 for media, _ in members if media.has_video)
    config = room.layouts

    def capacity(name: str, count: int) -> int:
        return config.pick(name, max(1, count - spare)).capacity

    chairs = [i for i, (media, chair) in enumerate(members) if chair]
    if mode is RoomMode.LECTURE and chairs:
        first = chairs[0]
        ordered = [members[first]] + members[:first] + members[first + 1:]
        others = video - (1 if members[first][0].has_video else 0)
        spec = LayoutSpec("lecture", tiles=capacity(layout_name, video), speakers=speakers,
                          chair_tiles=capacity(config.switching.lecture_chair_layout, others),
                          self_view=self_view, audience_tiles=capacity(layout_name, video))
        return MeetingShape(tuple(m for m, _ in ordered), spec, preset)
    spec = LayoutSpec("grid", tiles=capacity(layout_name, video), speakers=speakers, self_view=self_view)
    return MeetingShape(tuple(m for m, _ in members), spec, preset)


def describe_conference(conference: Conference, *, preset: str = "ultrafast", speakers: int = 3,
                        fps: float = DEFAULT_FPS, joining: Joining | None = None,
                        change: LayoutChange | None = None) -> dict[str, MeetingShape]:
    """Every room with members (and the one `joining` goes to) as a planner MeetingShape."""
    default_send = default_send_tier(conference)
    shapes: dict[str, MeetingShape] = {}
    for number, room in conference.rooms.items():
        members = [(member_media(m, default_send, fps), m.chair) for m in _present(room)]
        if joining is not None and joining.room == number:
            members.append((joining.media, joining.chair))
        if members:
            shapes[number] = room_shape(room, members, preset, speakers,
                                        change if change is not None and change.room == number else None)
    return shapes


# --------------------------------------------------------------------------- the model


def calibration_path(config: Config) -> Path:
    return config.path.parent / config.mcu.admission.calibration


def load_admission_calibration(config: Config) -> Calibration:
    """The calibration of [admission] calibration (relative to the config folder)."""
    path = calibration_path(config)
    if not path.is_file():
        raise CalibrationUnavailable(
            f"admission: no calibration file {path} ([admission] calibration in {config.path}); "
            "copy conf/calibration.toml there or measure this machine with `mcu bench calibrate -o FILE`")
    try:
        return load_calibration(path)
    except ConfigError as exc:
        problems = "; ".join(str(i) for i in exc.issues[:3])
        raise CalibrationUnavailable(f"admission: invalid calibration {path}: {problems}") from None


@dataclass(frozen=True)
class LoadModel:
    """Predicted cores of the box: the sum of meeting_cpu over its rooms, with one calibration."""

    calibration: Calibration
    preset: str = "ultrafast"
    speakers: int = 3
    fps: float = DEFAULT_FPS

    @classmethod
    def from_config(cls, config: Config) -> LoadModel:
        """Raises CalibrationUnavailable (missing or invalid file)."""
        cal = load_admission_calibration(config)
        preset = config.mcu.video.preset
        if preset not in cal.encode_ms:  # faster/fast: cost at least what the slowest known one does
            preset = [p for p in PRESETS if p in cal.encode_ms][-1]
        return cls(cal, preset, config.mcu.audio.mix_size, float(config.mcu.video.fps))

    def shapes(self, conference: Conference, joining: Joining | None = None,
               change: LayoutChange | None = None) -> dict[str, MeetingShape]:
        return describe_conference(conference, preset=self.preset, speakers=self.speakers, fps=self.fps,
                                   joining=joining, change=change)

    def cores(self, shapes: Iterable[MeetingShape]) -> float:
        return sum(meeting_cpu(shape, self.calibration).cores for shape in shapes)

    def predict(self, conference: Conference, joining: Joining | None = None,
                change: LayoutChange | None = None) -> float:
        return self.cores(self.shapes(conference, joining, change).values())


# --------------------------------------------------------------------------- measured load


class CpuSampler:
    """Measured cores: process CPU seconds over wall seconds across the last `window` seconds."""

    def __init__(self, window: float = MEASURE_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, cpu_seconds: float) -> float | None:
        self._samples.append((now, cpu_seconds))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        return self.cores

    @property
    def cores(self) -> float | None:
        """None until two samples are apart in time."""
        if len(self._samples) < 2:
            return None
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else None


def process_cpu_seconds() -> float:
    """User + system CPU of this process, every thread (CLOCK_PROCESS_CPUTIME_ID)."""
    return time.process_time()


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- the controller


@dataclass
class AdmissionStatus:
    """What the metrics export (mcu_admission_*), updated by decide() and sample()."""

    enabled: bool
    ceiling_cores: float
    reserve_cores: float
    predicted_cores: float = 0.0
    measured_cores: float | None = None
    admitted: int = 0
    refusals: Counter[str] = field(default_factory=Counter)  # by reason
    degraded: Counter[str] = field(default_factory=Counter)  # by step
    error: str = ""  # why admission is off, for the operator (empty: on, or disabled by config)
    over_ceiling: bool = False
    behind: bool = False  # frames skipped / audio ticks late right now (see falling_behind)


class AdmissionController:
    """decide() before a join, check_layout() before a layout change, sample() every second."""

    def __init__(self, model: LoadModel | None, settings: AdmissionSection, cores: float,
                 error: str = "") -> None:
        self.model = model
        self.settings = settings
        self.sampler = CpuSampler()
        self._behind_since: float | None = None
        self.status = AdmissionStatus(
            enabled=settings.enabled and model is not None, ceiling_cores=settings.ceiling * cores,
            reserve_cores=settings.reserve * cores, error=error,
            refusals=Counter({r: 0 for r in REASONS}), degraded=Counter({s: 0 for s in STEPS}))

    @classmethod
    def from_config(cls, config: Config, cores: float | None = None) -> AdmissionController:
        """A controller for `config`; a missing or invalid calibration turns admission off with an
        error log line and status.error (every join admitted, as before admission existed)."""
        settings = config.mcu.admission
        cores = cores or settings.cores or machine_cores()
        if not settings.enabled:
            return cls(None, settings, cores)
        try:
            model = LoadModel.from_config(config)
        except CalibrationUnavailable as exc:
            event(log, "admission.off", logging.ERROR, error=str(exc))
            return cls(None, settings, cores, error=str(exc))
        event(log, "admission.on", ceiling_cores=round(settings.ceiling * cores, 2),
              reserve_cores=round(settings.reserve * cores, 2), calibration=model.calibration.path,
              preset=model.preset)
        return cls(model, settings, cores)

    def reconfigure(self, config: Config, cores: float | None = None) -> None:
        """A reloaded config: new settings and calibration; the counters and the sampler stay."""
        fresh = AdmissionController.from_config(config, cores)
        self.model, self.settings = fresh.model, fresh.settings
        s, f = self.status, fresh.status
        s.enabled, s.ceiling_cores, s.reserve_cores, s.error = f.enabled, f.ceiling_cores, f.reserve_cores, f.error

    def limit(self, priority: bool) -> float:
        s = self.status
        return s.ceiling_cores if priority else s.ceiling_cores - s.reserve_cores

    def _base(self, predicted: float) -> float:
        measured = self.status.measured_cores
        if self.settings.measured_guard and measured is not None:
            return max(predicted, measured)
        return predicted

    def decide(self, conference: Conference, room_number: str, candidate: Candidate) -> Decision:
        """Admit, Degrade or Refuse the candidate (order in the module docstring); call once per call."""
        model = self.model
        if model is None or not self.settings.enabled:
            return Admit(math.nan)
        limit = self.limit(candidate.priority)
        if self.status.behind and not candidate.priority:
            # The box already misses frame or audio deadlines, whatever the model says: only the
            # chair and roster sites may still come in.
            return self._refused(room_number, candidate, "behind", self.status.predicted_cores, limit)
        now = model.predict(conference)
        base = self._base(now)
        media = candidate_media(candidate, default_send_tier(conference), model.fps)

        def load(m: SiteMedia) -> tuple[float, float]:
            predicted = model.predict(conference, Joining(room_number, m, candidate.chair))
            return predicted, base + predicted - now

        predicted, loaded = load(media)
        if loaded <= limit:
            self.status.admitted += 1
            return Admit(loaded)
        for step, stepped in self._steps(media):
            _, stepped_load = load(stepped)
            if stepped_load <= limit:
                self.status.admitted += 1
                self.status.degraded[step] += 1
                fps = stepped.fps if stepped.fps < media.fps else None
                tier = stepped.tier if stepped.tier != media.tier else None
                event(log, "admission.degraded", room=room_number, step=step, fps=fps, tier=tier,
                      predicted_cores=round(stepped_load, 3), limit_cores=round(limit, 3))
                return Degrade(step, fps, tier, stepped_load)
        if not candidate.priority and loaded <= self.status.ceiling_cores:
            reason = "reserve"
        elif predicted <= limit:
            reason = "measured"
        else:
            reason = "ceiling"
        return self._refused(room_number, candidate, reason, loaded, limit, predicted)

    def _refused(self, room_number: str, candidate: Candidate, reason: str, loaded: float, limit: float,
                 model_cores: float | None = None) -> Refuse:
        self.status.refusals[reason] += 1
        event(log, "admission.refused", logging.WARNING, room=room_number, reason=reason,
              priority=candidate.priority, predicted_cores=round(loaded, 3),
              model_cores=round(model_cores if model_cores is not None else loaded, 3),
              limit_cores=round(limit, 3), retry_after=self.settings.retry_after)
        return Refuse(self.settings.retry_after, reason, loaded, limit)

    def falling_behind(self, late_fraction: float, now: float) -> None:
        """The share of video frame times skipped and audio ticks late over the last second (from
        the server's tickers). Past BEHIND_FRACTION for BEHIND_SECONDS the box is behind: new
        joins other than the chair's and the roster's are refused until it catches up."""
        s = self.status
        if late_fraction > BEHIND_FRACTION:
            self._behind_since = now if self._behind_since is None else self._behind_since
        else:
            self._behind_since = None
        behind = self._behind_since is not None and now - self._behind_since >= BEHIND_SECONDS
        if behind != s.behind:
            s.behind = behind
            event(log, "admission.behind" if behind else "admission.caught_up",
                  logging.WARNING if behind else logging.INFO, late_fraction=round(late_fraction, 3))

    def _steps(self, media: SiteMedia) -> list[tuple[str, SiteMedia]]:
        """The degrade steps that change this newcomer's picture, each on top of the ones before."""
        out: list[tuple[str, SiteMedia]] = []
        if not media.has_video:
            return out
        s, current = self.settings, media
        for step in s.degrade:
            if step == "fps" and s.degrade_fps < current.fps:
                current = replace(current, fps=float(s.degrade_fps))
            elif step == "tier" and tier_rank(s.degrade_tier) < tier_rank(current.tier):
                current = replace(current, tier=s.degrade_tier)
            else:
                continue
            out.append((step, current))
        return out

    def check_layout(self, conference: Conference, room_number: str, *, mode: str | None = None,
                     layout: str | None = None, self_view: bool | None = None) -> Admit | Refuse:
        """Before an operator's layout change: Refuse when it would take the box past the ceiling
        (a change that lowers the load is always admitted)."""
        model = self.model
        if model is None or not self.settings.enabled:
            return Admit(math.nan)
        now = model.predict(conference)
        predicted = model.predict(conference, change=LayoutChange(room_number, mode, layout, self_view))
        loaded = self._base(now) + predicted - now
        limit = self.status.ceiling_cores
        if predicted <= now or loaded <= limit:
            return Admit(loaded)
        event(log, "admission.layout_refused", logging.WARNING, room=room_number, mode=mode, layout=layout,
              self_view=self_view, predicted_cores=round(loaded, 3), limit_cores=round(limit, 3))
        return Refuse(self.settings.retry_after, "ceiling", loaded, limit)

    def sample(self, conference: Conference, now: float, cpu_seconds: float) -> AdmissionStatus:
        """Every second from housekeeping: predicted and measured cores now; logs crossings."""
        s = self.status
        s.measured_cores = self.sampler.add(now, cpu_seconds)
        if self.model is not None:
            s.predicted_cores = self.model.predict(conference)
        load = max(s.predicted_cores, s.measured_cores or 0.0)
        over = s.enabled and load > s.ceiling_cores
        if over != s.over_ceiling:
            s.over_ceiling = over
            event(log, "admission.over_ceiling" if over else "admission.under_ceiling",
                  logging.WARNING if over else logging.INFO, predicted_cores=round(s.predicted_cores, 3),
                  measured_cores=round(s.measured_cores or 0.0, 3), ceiling_cores=round(s.ceiling_cores, 3))
        return s


__all__ = [
    "REASONS",
    "STEPS",
    "AdmissionController",
    "AdmissionStatus",
    "Admit",
    "CalibrationUnavailable",
    "Candidate",
    "CpuSampler",
    "Decision",
    "Degrade",
    "Joining",
    "LayoutChange",
    "LoadModel",
    "Refuse",
    "candidate_for",
    "candidate_media",
    "describe_conference",
    "load_admission_calibration",
    "member_media",
    "process_cpu_seconds",
    "room_shape",
    "tier_of",
]
