"""A synthetic meeting feeding `mcu.metrics`: counters that grow with time, and troubles.

`FakeMeeting` stands in for the conference: `snapshot()` is its `ConferenceSnapshot` provider,
and `advance(dt)` plays `dt` seconds of meeting into the event methods (audio ticks, compose,
encode, keyframes, speaker changes, SIP). With `troubles=True` it also does what every shipped
alert watches for (one site losing 10%, one silent site, a slow encoder, late audio ticks, a
lagging loop, a flapping site, failing config reloads, no gatekeeper registration, a recording
that fails on a full disk and a recording disk below its floor), so each alert expression returns
data.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from mcu.metrics import (
    AnyMetrics,
    ConferenceSnapshot,
    MediaKind,
    MemberSnapshot,
    ProtectionSnapshot,
    RecordingsSnapshot,
    RoomSnapshot,
    TenantSnapshot,
    ViewSnapshot,
)

SITE_NAMES = (
    "Văn phòng Chính phủ", "Hà Nội", "Thành phố Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ",
    "Bộ Y tế", "Bộ Giáo dục và Đào tạo", "Thừa Thiên Huế", "Quảng Ninh", "Nghệ An", "Đắk Lắk",
    "Khánh Hòa", "Lâm Đồng", "Bình Dương", "Đồng Nai",
)
USER_AGENTS = ("Polycom/6.2.2.1 RealPresence Group 500", "TANDBERG/529 (TC7.3.6)",
               "LifeSize Icon_600/LS_RM3_1.14.2", "Yealink VC800 63.345.0.10", "baresip v3.10.1")
AUDIO_PPS = 50  # one packet per 20 ms
VIDEO_PPS = 120
FPS = 30.0


@dataclass
class _Site:
    member_id: str
    name: str
    agent: str
    age: float = 0.0  # seconds in the meeting
    loss: float = 0.001
    silent: bool = False


def build_snapshot(room: str, sites: int, views: int = 5, elapsed: float = 60.0
                   ) -> ConferenceSnapshot:
    """A static snapshot of a room with `sites` members, each sending audio and video."""
    meeting = FakeMeeting(None, room=room, sites=sites, views=views)
    meeting.advance(elapsed)
    return meeting.snapshot()


class FakeMeeting:
    """One room of `sites` members; thread-safe, so the exporter thread may snapshot it."""

    def __init__(self, metrics: AnyMetrics | None, room: str = "4100", sites: int = 8,
                 views: int = 3, troubles: bool = False) -> None:
        self.metrics = metrics
        self.room = room
        self.troubles = troubles
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._sites = [self._new_site(i) for i in range(sites)]
        self._views = [ViewSnapshot(f"v{i + 1}", room, 0, 1280, 720, "H264", FPS, 1.5e6,
                                    "ultrafast", FPS) for i in range(views)]
        self._time = 0.0
        self._steps = 0
        self._speaker = 0
        if troubles:
            self._sites[1].loss = 0.10  # sustained loss at one site
            self._sites[2].silent = True  # call up, media gone for 10 s already
            self._sites[2].age = 10.0
            self._views[-1] = replace(self._views[-1], fps_out=18.0)  # encoder below target
        for _ in self._sites:
            self._event("member_joined", room)
        self._event("gatekeeper_registered", "192.0.2.10:1719", not troubles)  # troubles: rejected by it

    def _new_site(self, index: int) -> _Site:
        return _Site(f"m{next(self._ids)}", SITE_NAMES[index % len(SITE_NAMES)]
                     + ("" if index < len(SITE_NAMES) else f" {index // len(SITE_NAMES) + 1}"),
                     USER_AGENTS[index % len(USER_AGENTS)])

    def _event(self, name: str, *args: object) -> None:
        if self.metrics is not None:
            getattr(self.metrics, name)(*args)

    @property
    def member_ids(self) -> list[str]:
        with self._lock:
            return [s.member_id for s in self._sites]

    def leave(self, member_id: str) -> None:
        with self._lock:
            self._sites = [s for s in self._sites if s.member_id != member_id]
        self._event("member_left", self.room)

    def advance(self, dt: float) -> None:
        """Play `dt` seconds of meeting: counters grow, event methods are called."""
        with self._lock:
            self._time += dt
            self._steps += 1
            for s in self._sites:
                s.age += dt
            if self.troubles and self._steps % 3 == 0:
                self._flap()
        self._play_events(dt)

    def _flap(self) -> None:
        # The last site drops and dials back in (new member id): joins and leaves both grow.
        old = self._sites.pop()
        self._sites.append(_Site(f"m{next(self._ids)}", old.name, old.agent))
        self._event("member_left", self.room)
        self._event("member_joined", self.room)

    def _play_events(self, dt: float) -> None:
        if self.metrics is None:
            return
        m = self.metrics
        ticks = max(1, round(dt * 50))
        for i in range(ticks):
            late = self.troubles and (self._steps + i) % 20 == 0
            m.observe_audio_tick(self.room, 0.025 if late else 0.0012, late)
        for i in range(max(1, round(dt * FPS))):
            m.observe_compose(self.room, 0.004)
            for v in self._views:
                m.observe_encode(self.room, v.view_id, 0.003 if v.fps_out >= FPS else 0.045)
        for v in self._views:
            m.keyframe_sent(self.room, v.view_id, "pli" if self._steps % 2 else "periodic")
        m.observe_loop_lag(0.2 if self.troubles and self._steps % 5 == 0 else 0.0008)
        m.sip_request("OPTIONS")
        m.sip_response("OPTIONS", 200)
        if self._steps % 4 == 0:
            self._speaker += 1
            m.speaker_change(self.room)
            m.sip_request("INVITE")
            m.sip_response("INVITE", 401)
            m.auth_failure("pin")
        if self.troubles and self._steps % 5 == 0:
            m.config_reload(False)
        if self._steps % 7 == 0:  # a terminal sending a truncated PDU now and then
            m.h323_violation("q931 truncated")
            m.ras_dropped("ras decode failed")
        m.set_recordings(self._recordings())
        steps = self._steps  # a site presents slides at 5 fps to one content encoding
        m.set_content({"held": {self.room: 1}, "requests": {"granted": steps // 6, "pending": 0, "denied": steps // 9},
                       "dropped": {"malformed": steps // 8},
                       "encodings": {(self.room, "h264-1280x720-5"): (5.0, 400_000.0)}})
        m.set_tenants(self._tenants())

    def _tenants(self) -> list[TenantSnapshot]:
        """Two tenants: one at its 12-site quota (refusing a call every few seconds), one with room."""
        steps = self._steps
        return [TenantSnapshot("moh", 12, 1, {"sites": 12, "rooms": 2, "recording_hours": 40, "recording_disk_mb": 0},
                               {"sites": 1.0, "rooms": 0.5}, {"sites": steps // 3, "rooms": 0}),
                TenantSnapshot("mof", 3, 1, {"sites": 70, "rooms": 0, "recording_hours": 0, "recording_disk_mb": 0},
                               {"sites": 3 / 70}, {}),
                TenantSnapshot("provider", 0, 0, {}, {}, {})]

    def _recordings(self) -> RecordingsSnapshot:
        """One recording of the room growing at 250 kB/s; troubles: a disk that fills again and
        again (disk_full failures) and has a quarter of its floor free."""
        steps = self._steps
        floor = 500 * 2**20
        return RecordingsSnapshot(
            active=1, streams_active=1, bytes_by_room={self.room: round(self._time * 250_000)},
            dropped_by_room={self.room: steps // 4}, encoder_fps={self.room: FPS},
            failures={"disk_full": steps // 10 if self.troubles else 0}, stream_states={self.room: "live"},
            stream_reconnects={self.room: 0}, disk_free_bytes=floor // 4 if self.troubles else 4 * floor,
            disk_min_free_bytes=floor)

    def snapshot(self) -> ConferenceSnapshot:
        with self._lock:
            sites = list(self._sites)
            views = [replace(v, members_sharing=max(1, len(sites) // len(self._views)))
                     for v in self._views]
            speaker = self._speaker % max(1, len(sites))
        members: list[MemberSnapshot] = []
        for i, s in enumerate(sites):
            t = 0.0 if s.silent else s.age
            streams: tuple[tuple[MediaKind, int, int], ...] = (
                ("audio", AUDIO_PPS, 160), ("video", VIDEO_PPS, 1100))
            for kind, pps, size in streams:
                packets = int(t * pps)
                video = kind == "video"
                members.append(MemberSnapshot(
                    room=self.room, member_id=s.member_id, display_name=s.name,
                    user_agent=s.agent, kind=kind, codec="H264" if video else "PCMU",
                    width=1280 if video else 0, height=720 if video else 0,
                    packets_in=packets, packets_out=packets, bytes_in=packets * size,
                    bytes_out=packets * size, loss_fraction=s.loss,
                    cumulative_lost=int(packets * s.loss), jitter_seconds=0.004 + 0.001 * (i % 5),
                    rtt_seconds=0.030 + 0.002 * i, nack_in=int(t), nack_out=int(t / 2),
                    pli_in=int(t / 10), pli_out=int(t / 20), fir_in=0, fir_out=int(t / 60),
                    decode_errors=0, frames_decoded=int(t * FPS) if video else 0,
                    frames_dropped=int(t * FPS * s.loss) if video else 0,
                    seconds_since_last_packet=s.age if s.silent else 0.02,
                    speaking=(not video) and i == speaker))
        room = RoomSnapshot(self.room, "Giao ban trực tuyến Chính phủ", len(sites),
                            "voice-activated", "1+7", False)
        return ConferenceSnapshot(rooms=[room], members=members, views=views,
                                  sip_dialogs=len(sites), protection=self._protection())

    def _protection(self) -> ProtectionSnapshot:
        """Troubles: one site's decoder keeps failing, an address floods calls and guesses PINs,
        and the box runs past its admission ceiling."""
        steps = self._steps if self.troubles else 0
        return ProtectionSnapshot(
            faults={"audio decode": 5 * steps}, refusals={"call rate": 4 * steps, "overload": steps},
            room_pin_failures={self.room: 25 if self.troubles else 0},
            pin_lockouts=steps // 10, predicted_cores=1.2, measured_cores=1.9 if self.troubles else 0.9,
            ceiling_cores=1.7)

    @contextmanager
    def running(self, period: float = 0.1) -> Iterator[FakeMeeting]:
        """Advance in real time from a background thread while the block runs."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(period):
                self.advance(period)

        thread = threading.Thread(target=loop, name="fake-meeting", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)
