"""What content sharing costs the MCU, against people video, measured in one run.

    .venv/bin/python -m bench.content_cost [--sites 64] [--seconds 10]

Content goes through the real content path (mcu.calls.content.ContentManager): the presenter's
H.264 stream depacketized and decoded once, re-encoded once for the 64 receivers that share a
setting, packetized for each of them. People video alone is one shared 720p30 view of the same
64 sites (ViewEncoder: compose and encode), the cost every room pays anyway. Figures are CPU
seconds of this process per second of media (cores); nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from mcu.bfcp.constants import AttributeType as A
from mcu.bfcp.constants import Primitive as P
from mcu.bfcp.message import Attribute, Message, encode
from mcu.calls.content import CONTENT, ContentManager
from mcu.calls.media import Leg
from mcu.conference.engine import Conference
from mcu.config import load_config
from mcu.media.base import VideoEncoderConfig
from mcu.media.frames import alloc_i420
from mcu.media.registry import create_video_encoder
from mcu.rtp.h264 import H264Payloader
from mcu.rtp.packet import RtpPacket
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate

HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
BFCP = "m=application 5000 UDP/BFCP *\r\na=floorctrl:c-only\r\n"


def offer(level: str) -> str:
    return (HEAD + "m=audio 4000 RTP/AVP 0\r\n"
            f"m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e0{level};"
            "packetization-mode=1\r\n"
            f"m=video 4004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e0{level};"
            f"max-fs={8160 if level == '28' else 3600};packetization-mode=1\r\na=content:slides\r\na=label:3\r\n"
            + BFCP)


class _Sink:
    def __init__(self) -> None:
        self.packets = 0

    def send_rtp_many(self, packets: list[bytes]) -> None:
        self.packets += len(packets)

    def send_rtcp(self, data: bytes) -> None:
        pass


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _slide(width: int, height: int, frame: int) -> np.ndarray:
    """Text-like content: dense horizontal strokes, a line that changes per frame (a cursor)."""
    y = np.full((height, width), 235, np.uint8)
    for row in range(40, height - 40, 24):
        y[row:row + 3, 60: width - 60] = 16
    y[(frame * 7) % height, :] = 100
    return y


@dataclass
class Figure:
    what: str
    cores: float
    frames: int
    packets: int


def content_cost(sites: int, seconds: float, fps: int, level: str, tmp: Path) -> Figure:
    (tmp / "rooms.toml").write_text('[[room]]\nnumber = "4100"\n')
    from tests.helpers import write_test_config

    config = load_config(write_test_config(tmp, 5060, rooms='[[room]]\nnumber = "4100"\n',
                                           extra=f"[bfcp]\ncontent_fps = {fps}\ncontent_kbps = 1500\n"))
    clock = SimpleNamespace(now=0.0)
    legs: dict[str, Leg] = {}
    manager = ContentManager(config, Conference(config), legs, lambda: clock.now)
    manager.shell = SimpleNamespace(udp_port=5070, tcp_port=0, tls_port=0, transmit=lambda: None)  # type: ignore[assignment]
    sinks = []
    for i in range(sites + 1):
        call_id = f"c{i}"
        terms = manager.terms_for(call_id, "4100")
        result = negotiate(offer(level), Capabilities(content_fps=fps), "127.0.0.1", [30000, 30002, 30004, 30006],
                           bfcp=terms)
        leg = Leg(call_id)
        sink = _Sink()
        sinks.append(sink)
        leg.transports[CONTENT] = sink  # type: ignore[assignment]
        leg.negotiation = result
        leg.member = SimpleNamespace(room="4100", display_name=call_id, chair=False, member_id=i + 1,  # type: ignore[assignment]
                                     rtcp={}, call_id=call_id)
        legs[call_id] = leg
        manager.joined(leg, result)
    presenter_terms = manager.terms_for("c0", "4100")
    assert presenter_terms is not None
    rc = manager.rooms["4100"]
    rc.server.receive(encode(Message(P.FLOOR_REQUEST, presenter_terms.conference_id, 1, presenter_terms.user_id,
                                     [Attribute(A.FLOOR_ID, 1)], version=2)), ("udp", ("127.0.0.1", 9)), 0.0)
    manager.process_events()
    receiver = next(iter(rc.receivers.values())).key
    width, height = receiver.width, receiver.height
    source = create_video_encoder(VideoEncoderConfig("H264", width, height, fps=fps, bitrate=1_500_000,
                                                     keyint=fps * 10, profile="constrained-baseline"))
    picture = alloc_i420(width, height)
    payloader, seq = H264Payloader(1), 0
    pt = legs["c0"].negotiation.content_line().codecs[0].payload_type  # type: ignore[union-attr]
    frames = int(seconds * fps)
    encoded = []
    for k in range(frames):  # the presenter's stream, made before measuring (a terminal's work, not ours)
        picture.y[...] = _slide(width, height, k)
        encoded.append(source.encode(picture, k * 90000 // fps, force_keyframe=k == 0))
    started = _cpu()
    for k, out in enumerate(encoded):
        clock.now = k / fps
        for frame in out:
            payloads = payloader.payload_nals(1200, list(frame.nals))
            for i, payload in enumerate(payloads):
                manager.receive_rtp(legs["c0"], RtpPacket(pt, seq & 0xFFFF, k * 90000 // fps, 7, i == len(payloads) - 1,
                                                          payload), clock.now)
                seq += 1
        for room, encoding, pic, pts, force in manager.frame_jobs(clock.now):
            payloads_out, keyframe = manager.encode(encoding, pic, pts, force)
            manager.deliver(room, encoding, payloads_out, keyframe, pts, clock.now)
    spent = _cpu() - started
    return Figure(f"content {width}x{height} {fps} fps to {sites} sites ({len(rc.encodings)} encoding)",
                  spent / seconds, frames, sum(s.packets for s in sinks))


def people_cost(sites: int, seconds: float) -> Figure:
    """One shared 720p30 view of `sites` tiles, composed and encoded (people video alone)."""
    from mcu.conference.video import ViewEncoder
    from mcu.layout import load_config_dir
    from mcu.layout.engine import Assignment

    layouts = load_config_dir(Path(__file__).resolve().parents[1] / "conf")
    layout = layouts.layouts["1+12"]
    config = VideoEncoderConfig("H264", 1280, 720, fps=30, bitrate=1_500_000, keyint=300,
                                profile="constrained-baseline")
    slots = tuple(str(i + 1) for i in range(layout.capacity))
    encoder = ViewEncoder(Assignment("1+12", slots), config)
    from mcu.calibrate import picture

    frames = int(seconds * 30)
    moving = [picture(640, 360, k, "moving") for k in range(30)]  # camera-like pictures, made up front
    started = _cpu()
    for k in range(frames):
        pictures = {s: moving[(k + i) % len(moving)] for i, s in enumerate(slots)}
        encoder.render(layout, pictures, {s: s for s in slots}, slots[0], None, k * 3000, False)  # type: ignore[arg-type]
    return Figure(f"people video: one shared 720p30 view of {sites} sites", (_cpu() - started) / seconds, frames, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    runs: list[Callable[[Path], Figure]] = [
        lambda tmp: content_cost(args.sites, args.seconds, 5, "28", tmp),  # level 4.0: 1080p
        lambda tmp: content_cost(args.sites, args.seconds, 15, "1f", tmp),  # level 3.1: 720p
    ]
    for run in runs:
        with tempfile.TemporaryDirectory() as tmp:
            figures.append(run(Path(tmp)))
    figures.append(people_cost(args.sites, args.seconds))
    people = figures[-1].cores
    print(f"{'work':64} {'cores':>7} {'vs people':>10} {'frames':>7} {'packets':>8}")
    for f in figures:
        print(f"{f.what:64} {f.cores:7.3f} {f.cores / people if people else 0:9.2f}x {f.frames:7} {f.packets:8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
