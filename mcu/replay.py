"""A meeting replayed in-process: the conference core fed synthetic members on a fake clock.

The same objects the server drives (Conference, Room, Member, ViewEncoder, render_tile) get
the packets a synthetic site sends (mcu.synthetic.media: pre-encoded tone/noise and a still
numbered picture), parsed from bytes as the RTP shell does, at their media timing; the audio
tick runs every 20 ms and the video phase every 1/fps of media time, as fast as the CPU
allows. Only the I/O shell is left out: sockets, the event loop and (unless a pool is given)
the worker threads.
"""

from __future__ import annotations

import itertools
import random
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

from mcu.calls.streams import Streams
from mcu.conference.engine import Conference
from mcu.conference.room import Room, VideoJob
from mcu.conference.video import EncodedPicture
from mcu.config import Config
from mcu.layout.compose import render_tile
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import Fir, Pli
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import create_offer, negotiate
from mcu.sdp.session import serialize
from mcu.synthetic.endpoint import EndpointConfig, endpoint_capabilities
from mcu.synthetic.identity import tone_for, yuv_for
from mcu.synthetic.media import audio_cycle, video_cycle

AUDIO_TICK = 0.020
VIDEO_CYCLE_SECONDS = 4.0  # as the benchmark's load generator: an IDR starts each cycle
HOUSEKEEPING = 0.1  # s between the server's timer and feedback rounds
RESTART_INTERVAL = 0.5  # a synthetic site restarts its cycle (sends its IDR) at most this often


@dataclass(frozen=True)
class ReplayMember:
    """What one synthetic member sends and asks to receive."""

    audio_codec: str = "PCMU"
    video: bool = True
    width: int = 640
    height: int = 360
    fps: int = 30
    receive_width: int = 1280
    receive_height: int = 720
    talking: bool = False  # a steady tone; otherwise room noise
    talk_every: float = 0.0  # > 0: a tone of talk_for s every talk_every s (the latency speaker)
    talk_for: float = 0.5
    pin: str = ""  # entered as DTMF digits on joining a PIN room


@dataclass
class ReplayResult:
    media_seconds: float  # media time replayed in the measured window
    cpu_seconds: float  # process CPU time spent on it
    audio_packets_in: int = 0
    video_packets_in: int = 0
    packets_out: int = 0
    video_packets_out: int = 0
    video_frames_out: int = 0  # view frames encoded
    tiles_drawn: int = 0  # pictures scaled/labelled (once per frame for all views)
    tile_copies: int = 0  # drawn tiles copied into view canvases
    encode_seconds: float = 0.0  # inside the views' encoders (meaningful inline: wall = CPU there)
    decode_seconds: float = 0.0  # inside the members' video decoders (likewise)
    views: int = 0
    # CPU seconds per stage: audio_in, video_in (receive, decode included), audio_tick,
    # video_render (tiles, compose, encode), video_send (each viewer's packets), housekeeping
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def packets_in(self) -> int:
        return self.audio_packets_in + self.video_packets_in

    @property
    def cores(self) -> float:
        """CPU seconds per second of media: the cores this meeting keeps busy in real time."""
        return self.cpu_seconds / self.media_seconds


def _rtp(pt: int, seq: int, ts: int, ssrc: int, marker: bool, payload: bytes) -> bytes:
    return RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, marker, payload).serialize()


class _Site:
    """One synthetic member: its negotiated call, its packets, and the member it became."""

    def __init__(self, number: int, spec: ReplayMember, conference: Conference, room: str,
                 now: float) -> None:
        self.spec = spec
        rng = random.Random(number)
        site = EndpointConfig(number, audio_codec=spec.audio_codec, video_codec="H264",
                              width=spec.width, height=spec.height, fps=spec.fps)
        caps = endpoint_capabilities(site, (spec.receive_width, spec.receive_height))
        base = 40000 + 4 * number
        lines = [("audio", base)] + ([("video", base + 2)] if spec.video else [])
        offer = create_offer(caps, "127.0.0.1", lines, session_id=number)
        result = negotiate(serialize(offer).encode(), Capabilities(), "127.0.0.1",
                           [50000 + 4 * number + 2 * i for i in range(len(lines))])
        self.call_id = f"replay-{number}"
        self.member = conference.join(self.call_id, room, Streams.of_sdp(result), display_name=f"Site {number}",
                                      user_agent="synthetic-endpoint/0.1",
                                      remote=f"127.0.0.1:{base}", now=now, uri=f"sip:{number}@127.0.0.1")
        audio = result.first("audio")
        assert audio is not None and audio.codec is not None
        self.audio_pt = audio.codec.payload_type
        self.audio = audio_cycle(audio.codec.name, audio.codec.clock_rate, tone_for(number), number)
        self.audio_ssrc, self.video_ssrc = rng.getrandbits(32), rng.getrandbits(32)
        self.audio_seq = itertools.count(rng.getrandbits(16))
        self.video_seq = itertools.count(rng.getrandbits(16))
        self.video = None
        self.video_pos = 0  # picture of the cycle sent next
        self.last_restart = -1e9
        video = result.first("video")
        if spec.video and video is not None and video.codec is not None:
            self.video_pt = video.codec.payload_type
            frames = max(1, round(VIDEO_CYCLE_SECONDS * spec.fps))
            self.video = video_cycle("H264", spec.width, spec.height, spec.fps, yuv_for(number),
                                     str(number), frames, 1)

    def audio_packet(self, k: int) -> bytes:
        spec = self.spec
        talking = spec.talking or (
            spec.talk_every > 0 and (k * AUDIO_TICK) % spec.talk_every >= spec.talk_every - spec.talk_for)
        payloads = self.audio.tone if talking else self.audio.noise
        return _rtp(self.audio_pt, next(self.audio_seq), k * self.audio.timestamp_step,
                    self.audio_ssrc, k == 0, payloads[k % len(payloads)])

    def video_packets(self, k: int) -> list[bytes]:
        assert self.video is not None
        payloads = self.video.frames[self.video_pos]
        self.video_pos = (self.video_pos + 1) % len(self.video.frames)
        last = len(payloads) - 1
        return [_rtp(self.video_pt, next(self.video_seq), k * self.video.timestamp_step,
                     self.video_ssrc, i == last, p) for i, p in enumerate(payloads)]


    def housekeeping(self, now: float) -> None:
        """The server's timer round for this member; a PLI/FIR restarts our cycle, as the
        load generator's sites do."""
        video_in = self.member.video_in
        if video_in is None:
            return
        video_in.handle_timer(now)
        if any(isinstance(f, (Pli, Fir)) for f in video_in.feedback) and self.video is not None \
                and now - self.last_restart >= RESTART_INTERVAL:
            self.video_pos, self.last_restart = 0, now
        video_in.feedback.clear()


def _schedule(sites: list[_Site], fps: int, start: float, seconds: float) -> list[tuple[float, str, object]]:
    """Every input packet and tick of `seconds` of media, in time order (packets before ticks)."""
    events: list[tuple[float, int, str, object]] = []
    for s in sites:
        for k in range(round(seconds / AUDIO_TICK)):
            events.append((start + k * AUDIO_TICK, 0, "audio_in", (s, s.audio_packet(k))))
        if s.video is not None:
            for k in range(round(seconds * s.spec.fps)):
                events.append((start + k / s.spec.fps, 0, "video_in", (s, k)))
    for k in range(round(seconds / AUDIO_TICK)):
        events.append((start + (k + 0.5) * AUDIO_TICK, 1, "audio_tick", None))
    for k in range(round(seconds * fps)):
        events.append((start + (k + 0.5) / fps, 1, "video_tick", None))
    for k in range(round(seconds / HOUSEKEEPING)):
        events.append((start + (k + 0.25) * HOUSEKEEPING, 1, "housekeeping", None))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(t, kind, arg) for t, _, kind, arg in events]


def replay(config: Config, room_number: str, members: list[ReplayMember], seconds: float,
           warmup: float = 2.0, pool: Executor | None = None, realtime: bool = False) -> ReplayResult:
    """Replay `warmup` + `seconds` of a meeting; CPU is measured over the last `seconds`."""
    conference = Conference(config)
    room = conference.rooms[room_number]
    fps = config.mcu.video.fps
    start = 1000.0
    sites = [_Site(i + 1, spec, conference, room_number, start) for i, spec in enumerate(members)]
    for site in sites:
        if site.spec.pin:
            conference.digits(site.call_id, [*site.spec.pin, "#"], start)
    events = _schedule(sites, fps, start, warmup + seconds)
    result = ReplayResult(media_seconds=seconds, cpu_seconds=0.0)
    stages = dict.fromkeys(("audio_in", "video_in", "audio_tick", "video_render", "video_send",
                            "housekeeping"), 0.0)
    views: set[str] = set()
    decoders = [s.member.video_in for s in sites if s.member.video_in is not None]
    decoded_before = 0.0
    measuring, started = False, 0.0
    wall0 = time.monotonic()
    for now, kind, arg in events:
        if realtime:
            delay = (now - start) - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
        if not measuring and now >= start + warmup:
            measuring, started = True, time.process_time()
            result = ReplayResult(media_seconds=seconds, cpu_seconds=0.0)  # count the window only
            decoded_before = sum(d.decode_seconds for d in decoders)
        t0 = time.process_time()
        if kind == "audio_in":
            site, data = arg  # type: ignore[misc]
            site.member.receive_audio(RtpPacket.parse(data), now)
            result.audio_packets_in += 1
            stage = "audio_in"
        elif kind == "video_in":
            site, k = arg  # type: ignore[misc]
            packets = site.video_packets(k)  # now: a keyframe request restarts the cycle
            for data in packets:
                site.member.receive_video(RtpPacket.parse(data), now)
            result.video_packets_in += len(packets)
            stage = "video_in"
        elif kind == "audio_tick":
            result.packets_out += len(room.audio_tick(now))
            stage = "audio_tick"
        elif kind == "housekeeping":
            conference.handle_timer(now)
            for site in sites:
                site.housekeeping(now)
            stage = "housekeeping"
        else:
            jobs, pictures, drawn = render_views(room, now, pool)
            stages["video_render"] += time.process_time() - t0 if measuring else 0.0
            t0 = time.process_time()
            sent = sum(len(room.video_packets(job, picture, now)) for job, picture in zip(jobs, pictures))
            result.packets_out += sent
            result.video_packets_out += sent
            result.video_frames_out += len(jobs)
            result.tiles_drawn += drawn
            result.tile_copies += sum(1 for j in jobs for slot in j.encoder.assignment.slots if slot)
            result.encode_seconds += sum(j.encoder.encode_seconds for j in jobs)
            if measuring:
                views.update(j.encoder.view_id for j in jobs)
            stage = "video_send"
        if measuring:
            stages[stage] += time.process_time() - t0
    result.cpu_seconds = time.process_time() - started
    result.decode_seconds = sum(d.decode_seconds for d in decoders) - decoded_before
    result.views = len(views)
    result.stages = stages
    return result


def render_views(room: Room, now: float, pool: Executor | None = None
                 ) -> tuple[list[VideoJob], list[EncodedPicture | None], int]:
    """One video frame of a room, drawn and encoded on this thread or on `pool` as the server
    does: (the views' jobs, their encoded pictures, tiles drawn)."""
    jobs = room.video_jobs(now)
    tiles, to_draw = room.tile_jobs(jobs)
    drawn = list(pool.map(render_tile, to_draw)) if pool else [render_tile(t) for t in to_draw]
    room.keep_tiles(to_draw, drawn)
    tiles.update((t.key, tile) for t, tile in zip(to_draw, drawn))

    fit = room.video.fit_mode
    pictures = (list(pool.map(lambda job: job.render(fit, tiles), jobs)) if pool
                else [job.render(fit, tiles) for job in jobs])
    return jobs, pictures, len(to_draw)
