"""A running room: its members and its 20 ms audio tick.

Each tick takes one frame from every joined member, mixes (the K loudest, N-1), and encodes
each distinct stream once per codec: all members outside the mix hear the same "everyone"
stream, so 60 listeners on PCMU cost one G.711 encode. Members keying a PIN hear prompts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from mcu.calls.streams import Stream, Streams
from mcu.conference.audio import EVERYONE, AudioMixer, MixResult
from mcu.conference.faults import Faults
from mcu.conference.member import AudioFormat, Member, MemberState, media_key
from mcu.conference.prompts import PromptPlayer
from mcu.conference.speaker import SpeakerSelector
from mcu.conference.spec import Room as RoomSpec
from mcu.conference.spec import VideoSection
from mcu.conference.video import (
    EncodedPicture,
    OutputView,
    RoomVideo,
    VideoIn,
    ViewEncoder,
    encoder_config_for,
    layout_member,
    new_viewer,
)
from mcu.layout.compose import Planes, TileJob, TileKey, plan_tiles
from mcu.layout.engine import Assignment
from mcu.layout.model import CONTENT_SITE, Fit, Layout, LayoutConfig
from mcu.log import event
from mcu.media.base import AudioEncoder
from mcu.media.batch_resample import BatchResampler
from mcu.media.frames import I420
from mcu.media.registry import get_audio_codec
from mcu.media.resample import Resampler

FRAME_MS = 20
log = logging.getLogger("mcu.room")


class _SharedEncode:
    """Room-rate PCM of one stream to one codec's payload; kept while someone listens."""

    def __init__(self, fmt: AudioFormat, room_rate: int):
        codec = get_audio_codec(fmt.name, fmt.clock_rate)
        self.encoder: AudioEncoder = codec.encoder()
        self.resampler = Resampler(room_rate, codec.info.sample_rate)
        self.last_tick = -1
        self.payload = b""

    def encode(self, pcm: np.ndarray, tick: int) -> bytes:
        if self.last_tick != tick:
            self.payload = self.encoder.encode(self.resampler.process(pcm))
            self.last_tick = tick
        return self.payload


@dataclass
class TickStats:
    ticks: int = 0
    encodes: int = 0  # audio encodes run (shared ones count once)
    packets_out: int = 0
    speaker_changes: int = 0
    joins: int = 0
    leaves: int = 0


@dataclass
class VideoJob:
    """One view to compose and encode this frame (on a worker thread), then send."""

    encoder: ViewEncoder
    layout: Layout
    pictures: dict[str, Planes | None]
    names: dict[str, str]
    floor: str | None
    pts: int
    force_keyframe: str | None  # why, or None

    def render(self, fit_mode: Fit | None, tiles: Mapping[TileKey, Planes]) -> EncodedPicture | None:
        """Compose this view from the frame's drawn tiles and encode it (on a worker thread)."""
        return self.encoder.render(self.layout, self.pictures, self.names, self.floor, fit_mode, self.pts,
                                   self.force_keyframe is not None, tiles)


class RoomOutput(Protocol):
    """A room-level consumer with no signalling (a recording, a live stream): it takes the full mix
    (everyone, nobody minus) and the room picture. Both calls run in the media loop and must not
    block: an output queues what it takes and drops (and counts) what it cannot keep up with."""

    @property
    def layout(self) -> str | None: ...  # None: the listeners' view
    @property
    def size(self) -> tuple[int, int]: ...
    def take_audio(self, pcm: np.ndarray, now: float) -> None: ...
    def take_video(self, picture: I420, now: float) -> None: ...


@dataclass
class OutputJob:
    """The room picture for the outputs that share its layout and size, composed on a worker thread."""

    view: OutputView
    layout: Layout
    slots: tuple[str | None, ...]
    pictures: dict[str, Planes | None]
    names: dict[str, str]
    floor: str | None
    outputs: list[RoomOutput]

    def render(self, fit_mode: Fit | None, tiles: Mapping[TileKey, Planes]) -> I420:
        return self.view.render(self.layout, self.slots, self.pictures, self.names, self.floor, fit_mode, tiles)


@dataclass
class FrameJobs:
    views: list[VideoJob]
    outputs: list[OutputJob]


@dataclass
class Room:
    spec: RoomSpec
    layouts: LayoutConfig
    video_settings: VideoSection = field(default_factory=VideoSection)
    rate: int = 48000
    mix_size: int = 3
    hold: float = 0.6
    members: dict[int, Member] = field(default_factory=dict)
    locked: bool = False
    stats: TickStats = field(default_factory=TickStats)
    faults: Faults = field(default_factory=Faults)  # shared by the conference's rooms

    def __post_init__(self) -> None:
        self.mixer = AudioMixer(self.rate, SpeakerSelector(k=self.mix_size, hold=self.hold))
        v = self.video_settings
        self.video = RoomVideo(self.layouts, self.spec.layout, self.spec.mode, fps=v.fps,
                               keyframe_min_interval=v.keyframe_min_interval, fit_mode=Fit(v.fit),
                               self_view=self.spec.self_view)
        self._encodes: dict[tuple[Hashable, AudioFormat], _SharedEncode] = {}
        self._prompts: dict[int, PromptPlayer] = {}
        self._tick = 0
        self.last_mix: MixResult | None = None
        self._layouts_shown: list[str] = []
        self._to_room: dict[int, BatchResampler] = {}
        self._tiles: dict[TileKey, tuple[Planes | None, Planes]] = {}  # drawn tiles, by what they show
        self.outputs: dict[str, RoomOutput] = {}  # "record", "stream": consumers with no signalling
        self._output_views: dict[tuple[str | None, int, int], OutputView] = {}
        self.output_errors = 0
        # while content runs: its current picture, shown in people video (layouts with reserved = "content")
        self.content_source: Callable[[float], Planes | None] | None = None
        self.content_name = "Content"
        self.content_viewers: set[int] = set()  # members with a content stream: they see people video as it was
        self.content_people_layout: str | None = None  # ... in this layout (the room's own, before content)

    @property
    def number(self) -> str:
        return self.spec.number

    @property
    def joined(self) -> Iterator[Member]:
        return (m for m in self.members.values() if m.state is MemberState.JOINED)

    @property
    def full(self) -> bool:
        return len(self.members) >= self.spec.max_members

    def add(self, member: Member) -> None:
        self.members[member.member_id] = member
        self.stats.joins += 1
        self._attach_video(member)

    def _attach_video(self, member: Member) -> None:
        """The member's video pipelines for its negotiated video line (none without one)."""
        member.video_in, member.video_out = None, None
        member.rtcp.pop("video", None)
        media = member.video_media
        if media is None or not media.accepted or not media.codecs:
            return
        if media.we_receive:
            member.video_in = VideoIn(media, sender_ssrc=random.getrandbits(32))
        if media.we_send:
            self._attach_video_out(member, media)

    def _attach_video_out(self, member: Member, media: Stream) -> None:
        v = self.video_settings
        config = encoder_config_for(media, v.fps, v.preset, v.keyframe_interval, member.video_cap)
        member.video_out = new_viewer(config, media.codecs[0].payload_type)
        member.add_rtcp("video", member.video_out.out)

    def renegotiated(self, member: Member, streams: Streams) -> list[str]:
        """A re-offer was answered: rebuild what its new codecs need; returns the kinds rebuilt.
        A new send bit rate alone (an H.245 flowControlCommand) rebuilds only its encoder."""
        rebuilt = ["audio"] if member.set_audio(streams.get("audio")) else []
        video = streams.get("video")
        before, member.video_media = member.video_media, video
        wants_in = video is not None and video.we_receive and member.video_in is None
        wants_out = video is not None and video.we_send and member.video_out is None
        if media_key(before) != media_key(video) or wants_in or wants_out:
            self._attach_video(member)
            rebuilt.append("video")
        elif video is not None and video.we_send and before is not None and (
                before.max_send_kbps != video.max_send_kbps):
            self._attach_video_out(member, video)
            rebuilt.append("video")
        return rebuilt

    def remove(self, member_id: int) -> Member | None:
        self._prompts.pop(member_id, None)
        member = self.members.pop(member_id, None)
        if member is not None:
            member.state = MemberState.LEFT
            self.stats.leaves += 1
        return member

    def reconfigure(self, spec: RoomSpec, layouts: LayoutConfig) -> None:
        """Take a reloaded room spec and layout config; the next frame uses them."""
        changed_layout = (spec.layout, spec.mode) != (self.spec.layout, self.spec.mode)
        self.spec = spec
        self.layouts = layouts
        self.video.reconfigure(layouts, spec.layout if changed_layout else None,
                               spec.mode if changed_layout else None, spec.self_view)

    # ------------------------------------------------------------------ video

    def video_jobs(self, now: float) -> list[VideoJob]:
        """Decide this frame's pictures: who is shown where, which encoders run, keyframes."""
        return self.frame_jobs(now).views

    def frame_jobs(self, now: float) -> FrameJobs:
        """This frame's members' views (to compose and encode) and the room pictures of its outputs
        (to compose; each output encodes on its own thread)."""
        floor = self.mixer.selector.floor
        speaking = set(self.mixer.selector.mixed)
        levels = self.last_mix.levels if self.last_mix else {}
        joined = list(self.joined)
        members = [layout_member(m.member_id, m.site_id, m.chair, m.sends_video, m.member_id in speaking,
                                 127.0 - levels.get(m.member_id, 127)) for m in joined]
        content = self.content_source(now) if self.content_source is not None else None
        content_on = self.content_source is not None
        if content_on:  # "content in people": a tile of its own (reserved = "content")
            members.append(layout_member(CONTENT_SITE, CONTENT_SITE, False, content is not None, False, -127.0))
        views = self.video.plan(members, now, frozenset(str(i) for i in self.content_viewers) if content_on else frozenset(),
                                self.content_people_layout)
        layouts_shown = sorted({assignment.layout for assignment in views})
        if layouts_shown != self._layouts_shown:
            self._layouts_shown = layouts_shown
            event(log, "room.layout_shown", room=self.number, layouts=",".join(layouts_shown),
                  mode=self.video.state.mode.value, setting=self.video.state.layout)
        output_pictures = self._output_pictures(now)
        shown = {slot for assignment in views for slot in assignment.slots if slot}
        shown |= {slot for assignment, _ in output_pictures.values() for slot in assignment.slots if slot}
        for member in joined:
            if member.video_in is not None:
                member.video_in.set_visible(str(member.member_id) in shown, now)
        pictures = {str(m.member_id): (m.video_in.current_picture(now) if m.video_in else None) for m in joined}
        names = {str(m.member_id): m.display_name for m in joined}
        if self.content_source is not None:
            pictures[CONTENT_SITE], names[CONTENT_SITE] = content, self.content_name
        running: dict[int, ViewEncoder] = {}
        for assignment, viewer_ids in views.items():
            for viewer_id in viewer_ids:
                member = self.members.get(int(viewer_id)) if viewer_id.isdigit() else None  # not the content tile
                if member is None or member.video_out is None:
                    continue
                encoder = self.video.encoder_for(assignment, member.member_id, member.video_out, now)
                running[id(encoder)] = encoder
        self.video.forget_idle(now)
        pts = self.video.pts_at(now)
        floor_id = str(floor) if floor is not None else None
        jobs = [VideoJob(encoder, self.layouts.layouts[encoder.assignment.layout], pictures, names, floor_id,
                         pts, self.video.keyframe_due(encoder, now))
                for encoder in running.values()]
        outputs = []
        for key, (assignment, takers) in output_pictures.items():
            view = self._output_views.get(key)
            if view is None:
                view = self._output_views[key] = OutputView(key[1], key[2])
            view.last_used = now
            outputs.append(OutputJob(view, self.layouts.layouts[assignment.layout], assignment.slots, pictures,
                                     names, floor_id, takers))
        for key in [k for k in self._output_views if k not in output_pictures]:
            del self._output_views[key]
        return FrameJobs(jobs, outputs)

    def _output_pictures(self, now: float) -> dict[tuple[str | None, int, int], tuple[Assignment, list[RoomOutput]]]:
        """The distinct pictures the room's outputs take (a recording and a stream of the same
        layout and size share one), with who takes each."""
        out: dict[tuple[str | None, int, int], tuple[Assignment, list[RoomOutput]]] = {}
        for output in self.outputs.values():
            layout = output.layout if output.layout and self.layouts.has(output.layout) else None
            key = (layout, *output.size)
            if key not in out:
                out[key] = (self.video.output_assignment(layout, now), [])
            out[key][1].append(output)
        return out

    def deliver_picture(self, job: OutputJob, picture: I420, now: float) -> None:
        """Hand a composed room picture to its outputs (each queues it or drops it)."""
        for output in job.outputs:
            try:
                output.take_video(picture, now)
            except Exception:  # an output's failure is its own; the meeting goes on
                self.output_errors += 1
                if self.output_errors == 1:  # logged once with its traceback, counted after
                    log.exception("room.output_failed", extra={"fields": {"room": self.number, "kind": "video"}})

    def tile_jobs(self, jobs: list[VideoJob], outputs: list[OutputJob] | None = None
                  ) -> tuple[dict[TileKey, Planes], list[TileJob]]:
        """The tiles this frame's views (and outputs) need: those kept from earlier frames (same
        picture object, e.g. a name card or a stalled picture) and those to draw now, each once for
        all views."""
        needed: dict[TileKey, TileJob] = {}
        frames = [(job.encoder.config.width, job.encoder.config.height, job.layout, job.encoder.assignment.slots,
                   job.pictures, job.names, job.floor) for job in jobs]
        frames += [(o.view.width, o.view.height, o.layout, o.slots, o.pictures, o.names, o.floor)
                   for o in outputs or ()]
        for width, height, layout, slots, pictures, names, floor in frames:
            for tile in plan_tiles(width, height, layout, slots, pictures, names, floor, self.video.fit_mode):
                needed.setdefault(tile.key, tile)
        ready: dict[TileKey, Planes] = {}
        to_draw: list[TileJob] = []
        for key, tile in needed.items():
            kept = self._tiles.get(key)
            if kept is not None and kept[0] is tile.picture:  # the very same picture: reuse
                ready[key] = kept[1]
            else:
                to_draw.append(tile)
        self._tiles = {key: self._tiles[key] for key in ready}
        return ready, to_draw

    def keep_tiles(self, drawn: list[TileJob], tiles: list[Planes]) -> None:
        """Remember this frame's drawn tiles (with their picture, so an id() is never reused)."""
        for job, tile in zip(drawn, tiles):
            self._tiles[job.key] = (job.picture, tile)

    def video_packets(self, job: VideoJob, picture: EncodedPicture | None, now: float) -> list[tuple[Member, bytes]]:
        """The RTP packets of one encoded picture for each of its viewers."""
        if picture is None:
            return []
        encoder = job.encoder
        encoder.frames += 1
        if picture.keyframe:
            encoder.last_keyframe = now
            encoder.keyframes[job.force_keyframe or "periodic"] += 1
        key = (encoder.assignment, encoder.config)
        last = len(picture.payloads) - 1
        out: list[tuple[Member, bytes]] = []
        for viewer_id in list(encoder.viewers):
            member = self.members.get(viewer_id)
            if member is None or member.video_out is None or member.video_out.encoder_key != key:
                encoder.viewers.discard(viewer_id)
                continue
            stream = member.video_out.out
            try:
                packets = [stream.packetize(payload, picture.media_timestamp, now, marker=i == last)
                           for i, payload in enumerate(picture.payloads)]
            except Exception as exc:  # noqa: BLE001 - this viewer alone misses the picture
                self._fault(member, "video packetize", now, exc)
                continue
            out.extend((member, packet) for packet in packets)
        return out

    def _fault(self, member: Member, reason: str, now: float, error: BaseException | None = None,
               fatal: bool = True) -> None:
        self.faults.record(member.call_id, reason, now, error, fatal=fatal, room=self.number,
                           member=member.member_id)

    def tile_failed(self, member_id: str, error: BaseException, now: float) -> None:
        """Drawing a member's tile failed (its picture made a kernel refuse): charged to it."""
        member = self.members.get(int(member_id)) if member_id.isdigit() else None
        if member is not None:
            self._fault(member, "video tile", now, error)

    def view_failed(self, encoder: ViewEncoder, error: BaseException, now: float) -> None:
        """A view failed to compose or encode: drop its encoder so that the next frame starts a
        fresh one (with a keyframe) for its viewers, and charge the fault to each of them."""
        key = (encoder.assignment, encoder.config)
        if self.video.encoders.get(key) is encoder:
            del self.video.encoders[key]
            self.video.closed_views.append(encoder.view_id)
        for viewer_id in encoder.viewers:
            member = self.members.get(viewer_id)
            if member is not None and member.video_out is not None:
                member.video_out.encoder_key = None
                self._fault(member, "video encode", now, error)

    def keyframe_requested(self, member_id: int, reason: str, now: float) -> None:
        """A viewer sent PLI/FIR: one keyframe of its encoder, rate-limited."""
        member = self.members.get(member_id)
        if member is None or member.video_out is None:
            return
        member.feedback_in[reason] += 1
        encoder = self.video.encoders.get(member.video_out.encoder_key)  # type: ignore[arg-type]
        if encoder is not None:
            self.video.request_keyframe(encoder, reason, now)

    def play_prompt(self, member_id: int, name: str) -> None:
        player = self._prompts.setdefault(member_id, PromptPlayer(self.rate, FRAME_MS))
        player.play(name)

    def prompt_playing(self, member_id: int) -> bool:
        player = self._prompts.get(member_id)
        return player is not None and player.playing

    def audio_tick(self, now: float) -> list[tuple[Member, bytes]]:
        """Run one 20 ms tick; returns the RTP packets to send, per member."""
        self._tick += 1
        frames = self._frames_at_room_rate(now)
        muted = {m.member_id for m in self.joined if m.muted}
        deaf = {m.member_id for m in self.joined if m.deaf}
        floor_before = self.mixer.selector.floor
        result = self.mixer.tick(frames, now, muted, deaf)
        if result.floor != floor_before:
            self.stats.speaker_changes += 1
        self.last_mix = result

        out: list[tuple[Member, bytes]] = []
        for member in self.members.values():
            if not member.hears or member.audio_format is None or member.audio_out is None:
                continue
            if member.state is MemberState.PIN_ENTRY or self.prompt_playing(member.member_id):
                key: Hashable = ("prompt", member.member_id)
                player = self._prompts.get(member.member_id)
                pcm = player.next_frame() if player else result.streams["silence"]
            else:
                key = result.listens_to.get(member.member_id, EVERYONE)
                pcm = result.streams[key]
            try:
                payload = self._encode(key, member.audio_format, pcm)
                step = member.audio_format.clock_rate * FRAME_MS // 1000
                out.append((member, member.audio_out.packetize(payload, self._tick * step, now)))
            except Exception as exc:  # noqa: BLE001 - the others still get this tick
                self._encodes.pop((key, member.audio_format), None)  # a fresh encoder next tick
                self._fault(member, "audio encode", now, exc)
        for output in list(self.outputs.values()):
            try:
                output.take_audio(result.streams[EVERYONE], now)
            except Exception:  # an output's failure is its own; the meeting goes on
                self.output_errors += 1
                if self.output_errors == 1:  # logged once with its traceback, counted after
                    log.exception("room.output_failed", extra={"fields": {"room": self.number, "kind": "audio"}})
        self._forget_idle_encodes()
        self.stats.ticks += 1
        self.stats.packets_out += len(out)
        return out

    def _frames_at_room_rate(self, now: float) -> dict[int, np.ndarray | None]:
        """One frame per joined member, resampled in one batch per codec rate."""
        frames: dict[int, np.ndarray | None] = {}
        by_rate: dict[int, dict[int, np.ndarray]] = {}
        for member in self.members.values():
            if member.audio_in is None:
                continue
            try:
                pcm = member.audio_in.frame(now)  # pulled even during PIN entry, so the buffer drains
            except Exception as exc:  # noqa: BLE001 - a decoder failing on one member's payload
                self._fault(member, "audio decode", now, exc)
                pcm = None
            if member.state is not MemberState.JOINED:
                continue
            if pcm is not None:
                pcm = self._fit_frame(member, pcm, now)
            frames[member.member_id] = pcm
            if pcm is not None and member.audio_in.sample_rate != self.rate:
                by_rate.setdefault(member.audio_in.sample_rate, {})[member.member_id] = pcm
        for rate, batch in by_rate.items():
            resampler = self._to_room.get(rate)
            if resampler is None:
                resampler = self._to_room[rate] = BatchResampler(rate, self.rate)
            frames.update(resampler.process(batch))
            resampler.forget(resampler.tracked - set(self.members))
        return frames

    def _fit_frame(self, member: Member, pcm: np.ndarray, now: float) -> np.ndarray | None:
        """The member's decoded frame as the mixer takes it (one frame of int16 samples); another
        length (a ptime the jitter buffer did not reframe, a decoder's odd output) is cut or
        padded and counted rather than allowed to stop the mix."""
        assert member.audio_in is not None
        samples = member.audio_in.codec.info.frame_samples
        if pcm.dtype == np.int16 and pcm.shape == (samples,):
            return pcm
        self._fault(member, "audio frame size", now, fatal=False)
        flat = np.asarray(pcm).reshape(-1)
        if flat.dtype.kind not in "iuf":
            return None
        out = np.zeros(samples, np.int16)
        n = min(samples, flat.size)
        out[:n] = np.clip(flat[:n], -32768, 32767)
        return out

    def _encode(self, key: Hashable, fmt: AudioFormat, pcm: np.ndarray) -> bytes:
        shared = self._encodes.get((key, fmt))
        if shared is None:
            shared = self._encodes[(key, fmt)] = _SharedEncode(fmt, self.rate)
        if shared.last_tick != self._tick:
            self.stats.encodes += 1
        return shared.encode(pcm, self._tick)

    def _forget_idle_encodes(self) -> None:
        idle = [k for k, enc in self._encodes.items() if self._tick - enc.last_tick > 50]
        for key in idle:
            del self._encodes[key]
