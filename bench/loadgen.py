"""Load generator: synthetic sites dialling the MCU from separate processes.

Each generator process runs a uvloop with its share of `BenchEndpoint`s (SyntheticEndpoint
that may advertise a larger receive size than it sends, and that timestamps tone onsets).
The parent drives it over a pipe with commands and gets dict replies:

    ("join", None)   -> {"joined": n, "failed": [...]}      every member calls (ramped)
    ("snap", None)   -> counters (cumulative; the parent subtracts two snaps)
    ("stop", None)   -> {"latencies": [...], "checks": {...}}  then the process exits

Probes: member 1 talks (a steady tone; the chair in lecture scenarios); the last member is
the latency speaker, switching between room noise and its tone; the probe members (2..)
time the arrival of that tone in the mix they receive (same loop clock as the send), and
count the video frames they receive. Churners (the remaining members) leave and rejoin
every `churn_interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import random
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from mcu.sdp.codecs import Capabilities
from mcu.synthetic import SyntheticEndpoint, find_colour, goertzel_power, tone_for, yuv_for
from mcu.synthetic.endpoint import endpoint_capabilities

TONE_THRESHOLD = 0.01  # Goertzel power of the speaker's tone in a 20 ms frame (tone ~0.09)
SPEAKER_ON = 0.5  # s of tone per latency probe
SPEAKER_OFF = 1.0  # s of noise between probes (beyond the mixer's 600 ms hold)
JOIN_TIMEOUT = 20.0
CYCLE_SECONDS = 4.0  # pre-encoded video cycle (an IDR starts each cycle)
VIDEO_CLOCK = 90000

PROVINCES = (
    "Hà Nội", "TP Hồ Chí Minh", "Hải Phòng", "Đà Nẵng", "Cần Thơ", "An Giang",
    "Bà Rịa - Vũng Tàu", "Bắc Giang", "Bắc Kạn", "Bạc Liêu", "Bắc Ninh", "Bến Tre", "Bình Định",
    "Bình Dương", "Bình Phước", "Bình Thuận", "Cà Mau", "Cao Bằng", "Đắk Lắk", "Đắk Nông",
    "Điện Biên", "Đồng Nai", "Đồng Tháp", "Gia Lai", "Hà Giang", "Hà Nam", "Hà Tĩnh",
    "Hải Dương", "Hậu Giang", "Hòa Bình", "Hưng Yên", "Khánh Hòa", "Kiên Giang", "Kon Tum",
    "Lai Châu", "Lâm Đồng", "Lạng Sơn", "Lào Cai", "Long An", "Nam Định", "Nghệ An",
    "Ninh Bình", "Ninh Thuận", "Phú Thọ", "Phú Yên", "Quảng Bình", "Quảng Nam", "Quảng Ngãi",
    "Quảng Ninh", "Quảng Trị", "Sóc Trăng", "Sơn La", "Tây Ninh", "Thái Bình", "Thái Nguyên",
    "Thanh Hóa", "Thừa Thiên Huế", "Tiền Giang", "Trà Vinh", "Tuyên Quang", "Vĩnh Long",
    "Vĩnh Phúc", "Yên Bái",
)
CHAIR_NAME = "Văn phòng Chính phủ (Trung ương)"


class GeneratorError(RuntimeError):
    """A load generator process failed or answered something unexpected."""


@dataclass(frozen=True)
class MemberPlan:
    number: int
    name: str
    options: dict[str, Any]
    receive_size: tuple[int, int] | None = None
    pin: str = ""
    role: str = "member"  # talker | speaker | probe | churner | member
    output_fps: int = 0  # the MCU's frame rate (probes count skipped frame times), 0: unknown


@dataclass(frozen=True)
class GeneratorPlan:
    uri: str
    members: tuple[MemberPlan, ...]
    joins_per_second: float = 10.0
    churn_interval: float = 0.0
    churn_members: int = 1
    seed: int = 1


def member_name(number: int, style: str, chair: bool) -> str:
    if style == "province":
        if chair and number == 1:
            return CHAIR_NAME
        return f"UBND tỉnh {PROVINCES[(number - 2) % len(PROVINCES)]}"
    return f"Site {number}"


def plan_members(scenario: Any, chair_pin: str = "", member_pin: str = "") -> list[MemberPlan]:
    """Roles, names and endpoint options of every member of a scenario (numbers 1..count)."""
    m = scenario.members
    out: list[MemberPlan] = []
    n = m.count
    for number in range(1, n + 1):
        if number <= m.talkers:
            role = "talker"
        elif number == n and m.probes:
            role = "speaker"
        elif 2 <= number < 2 + max(m.probes, m.decoders):
            role = "probe" if number < 2 + m.probes else "decoder"
        else:
            role = "churner"
        options: dict[str, Any] = {
            "audio_codec": m.audio_codec,
            "talking": role == "talker",
            "video_codec": "H264" if m.video else None,
            "width": m.width, "height": m.height, "fps": m.fps,
            "video_cycle_seconds": CYCLE_SECONDS,
            "decode_video": 2 <= number < 2 + m.decoders,
        }
        pin = ""
        if chair_pin:
            pin = chair_pin if (m.chair and number == 1) else member_pin
        out.append(MemberPlan(number, member_name(number, m.names, m.chair), options,
                              (m.receive_width, m.receive_height) if m.video else None, pin, role,
                              scenario.room.fps if m.video else 0))
    return out


class BenchEndpoint(SyntheticEndpoint):
    """A synthetic site that may ask for a larger picture than it sends, and times tone onsets."""

    def __init__(self, number: int, name: str | None = None,
                 receive_size: tuple[int, int] | None = None, **options: object) -> None:
        super().__init__(number, name, **options)
        self.receive_size = receive_size
        self.onset_sent: float | None = None  # loop time the first tone frame of a probe left
        self._mark_onset = False
        self.watch_hz: int | None = None
        self.heard_at: float | None = None
        self.frame_step: int | None = None  # 90 kHz ticks between two output frames, if known
        self.skipped_frames = 0  # frame times missing between consecutive received timestamps
        self._last_video_ts: int | None = None

    def capabilities(self) -> Capabilities:
        return endpoint_capabilities(self.config, self.receive_size)

    def start_tone(self) -> None:
        self._mark_onset = True
        self.onset_sent = None
        self.talking = True

    def _send_audio_frame(self, k: int) -> None:
        if self._mark_onset and self.talking and self._loop is not None:
            self._mark_onset = False
            self.onset_sent = self._loop.time()
        super()._send_audio_frame(k)

    def _video_in(self, data: bytes, addr: tuple[str, int]) -> None:
        super()._video_in(data, addr)
        step = self.frame_step
        if step is None or len(data) < 12:
            return
        ts = int.from_bytes(data[4:8], "big")
        last = self._last_video_ts
        if last is not None and ts != last:
            gap = (ts - last) & 0xFFFFFFFF
            if gap < 1 << 31:  # forward (a reordered older packet is not a gap)
                self.skipped_frames += max(0, round(gap / step) - 1)
            else:
                return
        self._last_video_ts = ts

    def watch(self, hz: int) -> None:
        self.watch_hz = hz
        self.heard_at = None

    def _audio_in(self, data: bytes, addr: tuple[str, int]) -> None:
        super()._audio_in(data, addr)
        rx = self.audio_rx
        if self.watch_hz is None or self.heard_at is not None or rx is None or self._loop is None:
            return
        pcm = rx.ring.last(0.02)
        if len(pcm) and goertzel_power(pcm, rx.sample_rate, self.watch_hz) > TONE_THRESHOLD:
            self.heard_at = self._loop.time()


def _endpoint(plan: MemberPlan) -> BenchEndpoint:
    ep = BenchEndpoint(plan.number, plan.name, plan.receive_size, **plan.options)
    if plan.role == "probe" and plan.output_fps:
        ep.frame_step = VIDEO_CLOCK // plan.output_fps
    return ep


@dataclass
class _Totals:
    """Counters of endpoints that already left (churn), so totals survive them."""

    values: dict[str, int] = field(default_factory=dict)

    def add(self, counters: dict[str, int]) -> None:
        for k, v in counters.items():
            self.values[k] = self.values.get(k, 0) + v


def _counters(ep: SyntheticEndpoint) -> dict[str, int]:
    s = ep.stats
    return {
        "skipped_frames": getattr(ep, "skipped_frames", 0),
        "audio_in": s.audio.packets_in, "audio_out": s.audio.packets_out, "audio_lost": s.audio.lost,
        "video_in": s.video.packets_in, "video_out": s.video.packets_out, "video_lost": s.video.lost,
        "video_frames": s.video_frames_received, "video_frames_dropped": s.video_frames_dropped,
        "video_decoded": s.video_frames_decoded, "late_ticks": s.late_audio_ticks + s.late_video_ticks,
        "bytes_in": s.audio.bytes_in + s.video.bytes_in,
        "video_bytes_in": s.video.bytes_in, "video_bytes_out": s.video.bytes_out,
    }


class Generator:
    def __init__(self, plan: GeneratorPlan) -> None:
        self.plan = plan
        self.by_number = {m.number: m for m in plan.members}
        self.endpoints: dict[int, BenchEndpoint] = {}
        self.gone = _Totals()
        self.failed: list[str] = []
        self.latencies: list[float] = []
        self.latency_misses = 0
        self.churn_events = 0
        self.rng = random.Random(plan.seed)
        self.tasks: list[asyncio.Task[None]] = []

    async def _join(self, plan: MemberPlan) -> BenchEndpoint | None:
        ep = _endpoint(plan)
        try:
            await ep.call(self.plan.uri, timeout=JOIN_TIMEOUT)
            if plan.pin:
                try:
                    await ep.send_dtmf(plan.pin + "#")
                except Exception:  # noqa: BLE001 - no telephone-event: SIP INFO instead
                    await ep.send_dtmf(plan.pin + "#", method="info")
        except Exception as exc:  # noqa: BLE001 - reported, the run goes on
            self.failed.append(f"member {plan.number}: {exc}")
            await ep.close()
            return None
        self.endpoints[plan.number] = ep
        return ep

    async def join_all(self) -> dict[str, Any]:
        members = self.plan.members
        await asyncio.gather(*(_endpoint_start(self, m) for m in members))  # pre-encode first
        gap = 1.0 / self.plan.joins_per_second
        joins = []
        for m in members:
            joins.append(asyncio.create_task(self._join(m)))
            await asyncio.sleep(gap)
        await asyncio.gather(*joins)
        if any(m.role == "speaker" for m in members):
            self.tasks.append(asyncio.create_task(self._latency_loop()))
        if self.plan.churn_interval > 0:
            self.tasks.append(asyncio.create_task(self._churn_loop()))
        return {"joined": len(self.endpoints), "failed": self.failed}

    async def _latency_loop(self) -> None:
        speaker_plan = next(m for m in self.plan.members if m.role == "speaker")
        hz = tone_for(speaker_plan.number)
        while True:
            speaker = self.endpoints.get(speaker_plan.number)
            listeners = [self.endpoints[m.number] for m in self.plan.members
                         if m.role == "probe" and m.number in self.endpoints]
            if speaker is None or not listeners:
                return
            speaker.talking = False
            await asyncio.sleep(SPEAKER_OFF)
            for ep in listeners:
                ep.watch(hz)
            speaker.start_tone()
            await asyncio.sleep(SPEAKER_ON)
            for ep in listeners:
                if ep.heard_at is not None and speaker.onset_sent is not None:
                    self.latencies.append(ep.heard_at - speaker.onset_sent)
                else:
                    self.latency_misses += 1
                ep.watch_hz = None

    async def _churn_loop(self) -> None:
        churners = [m for m in self.plan.members if m.role == "churner"]
        while churners:
            await asyncio.sleep(self.plan.churn_interval)
            for m in self.rng.sample(churners, min(self.plan.churn_members, len(churners))):
                ep = self.endpoints.pop(m.number, None)
                if ep is not None:
                    self.gone.add(_counters(ep))
                    await ep.close()
                self.churn_events += 1
                await self._join(m)

    def snap(self) -> dict[str, Any]:
        totals = dict(self.gone.values)
        for ep in self.endpoints.values():
            for k, v in _counters(ep).items():
                totals[k] = totals.get(k, 0) + v
        probes = {str(m.number): _counters(self.endpoints[m.number]) for m in self.plan.members
                  if m.role == "probe" and m.number in self.endpoints}
        return {"totals": totals, "probes": probes, "members": len(self.endpoints),
                "time": asyncio.get_running_loop().time(),
                "churn_events": self.churn_events, "failed": len(self.failed)}

    def checks(self) -> dict[str, Any]:
        """What came back is right: probes hear the talker; decoders see another member's colour."""
        talker = next((m for m in self.plan.members if m.role == "talker"), None)
        heard = total_heard = seen = total_seen = 0
        powers: list[float] = []  # the talker's tone as each probe heard it (0.01 counts as heard)
        sizes: set[str] = set()
        for m in self.plan.members:
            ep = self.endpoints.get(m.number)
            if ep is None:
                continue
            if m.role == "probe" and talker is not None:
                total_heard += 1
                powers.append(round(ep.heard_tone(tone_for(talker.number), 1.0), 4))
                heard += powers[-1] > TONE_THRESHOLD
            if ep.config.decode_video:
                total_seen += 1
                frame = ep.last_frame()
                if frame is not None:
                    sizes.add(f"{frame.width}x{frame.height}")
                    others = [yuv_for(o.number) for o in self.plan.members[:12] if o.number != m.number]
                    seen += any(find_colour(frame, c) for c in others)
        return {"heard_talker": heard, "probes_checked": total_heard, "talker_power": powers, "saw_others": seen,
                "decoders_checked": total_seen, "received_sizes": sorted(sizes)}

    async def stop(self) -> dict[str, Any]:
        for t in self.tasks:
            t.cancel()
        checks = self.checks()
        await asyncio.gather(*(ep.close() for ep in self.endpoints.values()), return_exceptions=True)
        return {"latencies": self.latencies, "latency_misses": self.latency_misses, "checks": checks}


async def _endpoint_start(gen: Generator, plan: MemberPlan) -> None:
    """Pre-encode this member's cycles once (cached by number), so joins are quick."""
    ep = _endpoint(plan)
    await ep.start()
    await ep.close()


async def _serve(plan: GeneratorPlan, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    gen = Generator(plan)
    commands: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    def readable() -> None:
        try:
            commands.put_nowait(conn.recv())
        except (EOFError, OSError):  # the benchmark went away: stop rather than spin on a dead pipe
            loop.remove_reader(conn.fileno())
            commands.put_nowait(("gone", None))

    loop.add_reader(conn.fileno(), readable)
    try:
        while True:
            kind, _ = await commands.get()
            if kind == "gone":
                await gen.stop()
                return
            if kind == "join":
                conn.send(await gen.join_all())
            elif kind == "snap":
                conn.send(gen.snap())
            elif kind == "stop":
                conn.send(await gen.stop())
                return
            else:
                conn.send({"error": f"unknown command {kind!r}"})
    finally:
        loop.remove_reader(conn.fileno())


def generator_main(plan: GeneratorPlan, conn: Connection) -> None:
    """Entry point of a generator process."""
    try:
        uvloop.run(_serve(plan, conn))
    except Exception:  # noqa: BLE001 - the parent reports it
        with contextlib.suppress(OSError):
            conn.send({"error": traceback.format_exc()})


class GeneratorProcess:
    """One load generator process and its command pipe."""

    def __init__(self, plan: GeneratorPlan) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=generator_main, args=(plan, child), daemon=True)
        self.proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def send(self, kind: str) -> None:
        self.conn.send((kind, None))

    def receive(self, timeout: float) -> dict[str, Any]:
        if not self.conn.poll(timeout):
            raise GeneratorError(f"load generator {self.pid} did not answer within {timeout} s")
        reply = self.conn.recv()
        if "error" in reply:
            raise GeneratorError(f"load generator {self.pid} failed:\n{reply['error']}")
        return reply

    def ask(self, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        self.send(kind)
        return self.receive(timeout)

    def close(self) -> None:
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


def split_plan(uri: str, members: list[MemberPlan], processes: int, joins_per_second: float,
               churn_interval: float, churn_members: int) -> list[GeneratorPlan]:
    """Members dealt round-robin over `processes` (probes, talker and speaker stay in process 0)."""
    special = [m for m in members if m.role in ("talker", "speaker", "probe", "decoder")]
    rest = [m for m in members if m.role not in ("talker", "speaker", "probe", "decoder")]
    shares: list[list[MemberPlan]] = [[] for _ in range(processes)]
    shares[0] += special
    for i, m in enumerate(rest):
        shares[(i + 1) % processes].append(m)
    return [GeneratorPlan(uri, tuple(sorted(share, key=lambda m: m.number)),
                          joins_per_second / processes, churn_interval, churn_members, seed=i + 1)
            for i, share in enumerate(shares) if share]
