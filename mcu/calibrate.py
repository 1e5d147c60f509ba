"""`mcu bench calibrate`: this machine's unit costs, written as a planner calibration file.

Every figure is CPU time (time.process_time, all threads of this process) of one core, per
unit of work, with the MCU's own code paths: libx264 through mcu.media (threads=1, the MCU's
encoder settings), the H.264 decoder the MCU uses, the audio codecs of mcu.media, the
layout compositor (mcu.layout.compose: each tile drawn once per frame, then copied per view),
the N-1 mix kernel with levels, and RTP receive + parse + send over a loopback socket.

Content: "moving" (default: gradients, a moving square and sensor noise, closer to camera
video) or "synthetic" (the still site pictures the load generator sends; what the benchmark
suite uses so that its [[load]] checks compare like with like).

The MCU draws each shown picture once per frame (scale, border, label: scale_ms_per_tile) and
copies it into every view that shows it (blit_ms_per_tile), as the planner's model assumes.

Unit costs measured alone miss what the running conference spends around them, so a reference
meeting (9 sites, 360p in, 720p grid out) is then replayed on the conference path itself
(mcu.replay: Room, members, jitter buffers, tiles, view encoders, packetizers): inline for
the cost of a view frame beyond its encode and tiles (view_ms), then on worker threads paced
to the media clock, as the server runs it, for what that adds per second (video_room_ms).
With content "synthetic" the encode figures are also scaled to what the reference meeting's
views really cost to encode (their borders move with the speaker, keyframes refresh tiles).
`mcu bench calibrate` runs that through the benchmark suite (`python -m bench audio-100-pcmu
calibrate`), which also runs 100 audio members against a real `mcu serve` and replaces the
RTP and audio figures with the running MCU's; --units-only stays in this process.

    mcu bench calibrate [-o FILE] [--quick] [--content moving|synthetic] [--units-only]
    mcu bench run [SCENARIO|all] [--quick]     (runs `python -m bench` from the repository)
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mcu.config import Config, load_config
from mcu.media.frames import I420, alloc_i420
from mcu.media.registry import get_audio_codec, get_video_decoder, get_video_encoder
from mcu.plan.calibration import Calibration, LoadScenario, save_calibration
from mcu.plan.tiers import AUDIO_CODECS, PRESETS, RESOLUTIONS, VIDEO_TIERS

CONTENTS = ("moving", "synthetic")
TIER_KBPS = {"sd360": 512, "hd720": 1500, "fhd1080": 3000}
AUDIO_NAMES = {"g711": ("PCMU", 8000), "g722": ("G722", 8000), "opus": ("opus", 48000)}
MIX_MEMBERS = 100
MIX_SPEAKERS = 3
MIX_RATE_SAMPLES = 960  # 20 ms at 48 kHz
COMPOSE_LAYOUT = "3x3"
USABLE_FRACTION = 0.7
REFERENCE_SITES = 9
AUDIO_REFERENCE = "audio-100-pcmu"  # the benchmark scenario for the running MCU's RTP and audio costs
REFERENCE_ROOM = "4100"
REPO = Path(__file__).resolve().parents[1]


class CalibrationError(RuntimeError):
    """A unit cost could not be measured (the message says which and why)."""


@dataclass(frozen=True)
class CalibrateOptions:
    frames: int = 90  # video frames per measurement (quick: 12)
    audio_frames: int = 500
    packets: int = 20000
    content: str = "moving"
    presets: tuple[str, ...] = PRESETS
    tiers: tuple[str, ...] = VIDEO_TIERS
    reference_seconds: float = 5.0  # media time of each replay of the reference meeting
    reference_repeats: int = 5  # inline / real-time pairs

    @classmethod
    def quick(cls, content: str = "moving") -> CalibrateOptions:
        return cls(frames=12, audio_frames=60, packets=2000, content=content,
                   reference_seconds=1.0, reference_repeats=1)


def cpu_per_call(fn: Callable[[int], object], count: int) -> float:
    """CPU seconds per call of fn(i) for i in range(count), after one warm-up call."""
    fn(0)
    start = time.process_time()
    for i in range(1, count + 1):
        fn(i)
    return (time.process_time() - start) / count


def site_picture(width: int, height: int, seed: int) -> I420:
    """The still picture synthetic site `seed` sends (its colour and number)."""
    from mcu.synthetic.identity import yuv_for
    from mcu.synthetic.pictures import make_picture

    return make_picture(width, height, yuv_for(seed), str(seed))  # type: ignore[return-value]


def composite_picture(width: int, height: int, tiles: int = 9) -> I420:
    """What the MCU encodes in the load scenarios: site pictures composed in a grid with
    borders and labels (layout 3x3), at width x height."""
    from mcu.layout.compose import compose
    from mcu.layout.loader import load_config_dir

    layout = load_config_dir(REPO / "conf").layouts[COMPOSE_LAYOUT]
    ids = [str(i + 1) for i in range(min(tiles, len(layout.regions)))]
    pics = {m: site_picture(640, 360, int(m)) for m in ids}
    canvas = alloc_i420(width, height)
    compose(canvas, layout, ids, pics, {m: f"UBND tỉnh số {m}" for m in ids}, ids[0])  # type: ignore[arg-type]
    return canvas


def picture(width: int, height: int, index: int, content: str, seed: int = 1) -> I420:
    """Frame `index` of the calibration content ("synthetic": one site's still picture)."""
    if content == "synthetic":
        return site_picture(width, height, seed)
    planes = alloc_i420(width, height)
    yy, xx = np.mgrid[0:height, 0:width]
    luma = 40 + (xx * 160) // width + (yy * 40) // height
    rng = np.random.default_rng(index)
    luma = luma + rng.integers(-3, 4, luma.shape)  # sensor noise: every frame differs a little
    side = height // 4
    x0 = (index * 4) % (width - side)
    luma[side: 2 * side, x0: x0 + side] = 230
    planes.y[...] = np.clip(luma, 0, 255).astype(np.uint8)
    cy, cx = np.mgrid[0: height // 2, 0: width // 2]
    planes.u[...] = (64 + (cx * 128) // (width // 2)).astype(np.uint8)
    planes.v[...] = (64 + (cy * 128) // (height // 2)).astype(np.uint8)
    return planes


def _pictures(width: int, height: int, frames: int, content: str) -> list[I420]:
    return [picture(width, height, i, content) for i in range(frames + 1)]


def measure_encode_ms(tier: str, preset: str, opts: CalibrateOptions) -> float:
    """Encode cost per frame; synthetic content encodes the MCU's composite of site pictures."""
    w, h = RESOLUTIONS[tier]
    if opts.content == "synthetic":
        pics = [composite_picture(w, h)]
    else:
        pics = _pictures(w, h, min(opts.frames, 30), opts.content)
    enc = get_video_encoder("H264", w, h, 30, TIER_KBPS[tier] * 1000, preset=preset, keyint=300,
                            profile="constrained-baseline")
    return 1000 * cpu_per_call(lambda i: enc.encode(pics[i % len(pics)], i * 3000, i == 0),
                               opts.frames)


def measure_decode_ms(tier: str, opts: CalibrateOptions) -> float:
    w, h = RESOLUTIONS[tier]
    pics = _pictures(w, h, min(opts.frames, 30), opts.content)
    enc = get_video_encoder("H264", w, h, 30, TIER_KBPS[tier] * 1000, keyint=300,
                            profile="constrained-baseline")
    units = []
    for i in range(opts.frames + 1):
        units += [(e.data, e.keyframe) for e in enc.encode(pics[i % len(pics)], i * 3000, i == 0)]
    if not units:
        raise CalibrationError(f"the {tier} encoder produced nothing to decode")
    dec = get_video_decoder("H264")
    dec.decode(units[0][0], units[0][1])
    rest = units[1:] or units
    return 1000 * cpu_per_call(lambda i: dec.decode(*rest[(i - 1) % len(rest)]) if i else None, len(rest))


def measure_audio_us(opts: CalibrateOptions) -> tuple[dict[str, float], dict[str, float]]:
    enc_us: dict[str, float] = {}
    dec_us: dict[str, float] = {}
    for key in AUDIO_CODECS:
        name, rate = AUDIO_NAMES[key]
        codec = get_audio_codec(name, rate)
        n = codec.info.frame_samples
        t = np.arange(n * 50) / codec.info.sample_rate
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frames = [pcm[i * n:(i + 1) * n] for i in range(50)]
        encoder = codec.encoder()
        payloads = [encoder.encode(f) for f in frames]
        enc_us[key] = 1e6 * cpu_per_call(lambda i, e=encoder, f=frames: e.encode(f[i % 50]),  # type: ignore[misc]
                                         opts.audio_frames)
        decoder = codec.decoder()
        dec_us[key] = 1e6 * cpu_per_call(lambda i, d=decoder, p=payloads: d.decode(p[i % 50]),  # type: ignore[misc]
                                         opts.audio_frames)
    return enc_us, dec_us


def measure_compose_ms_per_tile(opts: CalibrateOptions) -> tuple[float, float]:
    """One 1280x720 view of the 3x3 layout: (drawing a tile: scale, border, label; copying a
    drawn tile into a view), in ms per tile."""
    from mcu.layout.compose import compose, plan_tiles, render_tile
    from mcu.layout.loader import load_config_dir

    config = load_config_dir(REPO / "conf")
    layout = config.layouts[COMPOSE_LAYOUT]
    tiles = len(layout.regions)
    ids = [str(i + 1) for i in range(tiles)]
    pics = {m: picture(640, 360, 0, opts.content, seed=int(m)) for m in ids}
    names = {m: f"UBND tỉnh số {m}" for m in ids}
    canvas = alloc_i420(1280, 720)
    jobs = plan_tiles(1280, 720, layout, ids, pics, names, ids[0])  # type: ignore[arg-type]
    frames = max(20, opts.frames)
    draw = cpu_per_call(lambda i: [render_tile(job) for job in jobs], frames)
    drawn = {job.key: render_tile(job) for job in jobs}
    copy = cpu_per_call(lambda i: compose(canvas, layout, ids, pics, names, ids[0], tiles=drawn),  # type: ignore[arg-type]
                        frames)
    return 1000 * draw / tiles, 1000 * copy / tiles


def measure_mix_us_per_member(opts: CalibrateOptions) -> float:
    from mcu import mix

    rng = np.random.default_rng(0)
    frames = rng.normal(0, 300, (MIX_MEMBERS, MIX_RATE_SAMPLES)).astype(np.int16)
    speakers = np.arange(MIX_SPEAKERS, dtype=np.int32)
    per_tick = cpu_per_call(lambda i: mix.mix_minus_levels(frames, speakers), opts.audio_frames)
    return 1e6 * per_tick / MIX_MEMBERS


def measure_rtp_us_per_packet(opts: CalibrateOptions) -> float:
    """Receive, parse, rewrite the header and send one RTP packet over loopback; per packet
    handled (a receive and a send are two)."""
    from mcu.rtp.packet import RtpPacket

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for s in (rx, tx, sink):
            s.bind(("127.0.0.1", 0))
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        dest, rx_addr = sink.getsockname(), rx.getsockname()
        header = struct.Struct("!BBHII")
        payload = bytes(160)

        def one(i: int) -> None:
            tx.sendto(header.pack(0x80, 0, i & 0xFFFF, i * 160, 1234) + payload, rx_addr)
            data = rx.recv(2048)
            packet = RtpPacket.parse(data)
            rx.sendto(header.pack(0x80, 0, packet.sequence_number, packet.timestamp, 99) + packet.payload,
                      dest)
            sink.recv(2048)

        per_loop = cpu_per_call(one, opts.packets)
    finally:
        for s in (rx, tx, sink):
            s.close()
    # each loop sends 2 and receives 2 datagrams in this process: 4 packet operations, one
    # of which (receive + parse + send) is what the MCU does per packet in each direction
    return 1e6 * per_loop / 4


def reference_config(folder: Path) -> Config:
    """The MCU config of the reference meeting: one room with the shipped layouts, 16 kHz
    audio, 720p30 ultrafast video (as the benchmark's load scenarios)."""
    for name in ("layouts.toml", "sites.toml", "endpoints.toml"):
        shutil.copy(REPO / "conf" / name, folder / name)
    (folder / "rooms.toml").write_text(
        f'[[room]]\nnumber = "{REFERENCE_ROOM}"\nname = "Reference"\nlayout = "grid"\nmode = "auto"\n',
        encoding="utf-8")
    (folder / "mcu.toml").write_text(
        '[audio]\nrate = 16000\n[video]\nfps = 30\npreset = "ultrafast"\n'
        "[metrics]\nenabled = false\n[admin]\nenabled = false\n", encoding="utf-8")
    return load_config(folder / "mcu.toml")


@dataclass(frozen=True)
class ConferencePath:
    view_ms: float  # per view frame beyond its encode, tile drawing and copies
    video_room_ms: float  # per second, for running the meeting on threads in real time
    encode_ms: float  # the views' 720p encode per frame, as the meeting ran it
    video_in_us: float  # per video packet received, beyond an audio packet's path (decode apart)
    video_out_us: float  # per video packet sent: each viewer's header rewrite and serialisation


def measure_conference_path(scale_ms: float, blit_ms: float, opts: CalibrateOptions) -> ConferencePath:
    """The reference meeting (REFERENCE_SITES sites sending 360p30 H.264 + PCMU, each
    receiving the 720p30 grid of the others) replayed on the conference path (mcu.replay).
    Inline: the video phase's CPU per view frame beyond its encoders, tile drawing and
    copies; the encoders' own time; what a received video packet costs beyond a received
    audio packet (its decode apart), and a sent one. Then on worker threads in real time, as
    the server runs it: the extra CPU per second (its mean over the repeats; medians for the
    rest)."""
    from mcu.replay import ReplayMember, replay

    members = [ReplayMember(talking=i == 0, talk_every=1.5 if i == REFERENCE_SITES - 1 else 0.0)
               for i in range(REFERENCE_SITES)]
    figures: dict[str, list[float]] = {k: [] for k in ConferencePath.__dataclass_fields__}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        config = reference_config(Path(tmp))
        seconds = opts.reference_seconds
        for _ in range(opts.reference_repeats):
            inline = replay(config, REFERENCE_ROOM, members, seconds)
            live = replay(config, REFERENCE_ROOM, members, seconds, pool=pool, realtime=True)
            if not (inline.video_frames_out and inline.video_packets_in and inline.video_packets_out):
                raise CalibrationError("the reference meeting sent or encoded no video")
            st = inline.stages
            units = inline.encode_seconds + 1e-3 * (scale_ms * inline.tiles_drawn + blit_ms * inline.tile_copies)
            figures["view_ms"].append(1e3 * max(0.0, st["video_render"] - units) / inline.video_frames_out)
            figures["encode_ms"].append(1e3 * inline.encode_seconds / inline.video_frames_out)
            audio_us = 1e6 * st["audio_in"] / inline.audio_packets_in
            video_us = 1e6 * (st["video_in"] - inline.decode_seconds) / inline.video_packets_in
            figures["video_in_us"].append(max(0.0, video_us - audio_us))
            figures["video_out_us"].append(1e6 * st["video_send"] / inline.video_packets_out)
            figures["video_room_ms"].append(1e3 * max(0.0, live.cores - inline.cores))
    # the real-time runs scatter (on this VM in two modes, ~0.1 and ~0.25 cores apart from
    # inline) and a meeting lives through both: their mean, not the median, is what it costs
    return ConferencePath(**{k: statistics.fmean(v) if k == "video_room_ms" else statistics.median(v)
                             for k, v in figures.items()})


def measure(opts: CalibrateOptions | None = None, progress: Callable[[str], None] | None = None) -> Calibration:
    opts = opts or CalibrateOptions()
    if opts.content not in CONTENTS:
        raise CalibrationError(f"content {opts.content!r}: use one of {CONTENTS}")
    say = progress or (lambda _msg: None)
    decode = {}
    for tier in opts.tiers:
        decode[tier] = measure_decode_ms(tier, opts)
        say(f"decode {tier}: {decode[tier]:.3f} ms/frame")
    encode: dict[str, dict[str, float]] = {}
    for preset in opts.presets:
        encode[preset] = {}
        for tier in opts.tiers:
            encode[preset][tier] = measure_encode_ms(tier, preset, opts)
            say(f"encode {tier} {preset}: {encode[preset][tier]:.3f} ms/frame")
    scale_tile, blit_tile = measure_compose_ms_per_tile(opts)
    say(f"compose: draw {scale_tile:.3f} ms per tile, copy {blit_tile:.3f} ms per tile per view")
    enc_us, dec_us = measure_audio_us(opts)
    say(f"audio encode us: {enc_us}; decode us: {dec_us}")
    mix_us = measure_mix_us_per_member(opts)
    say(f"mix: {mix_us:.3f} us per member per tick")
    rtp_us = measure_rtp_us_per_packet(opts)
    say(f"rtp: {rtp_us:.3f} us per packet")
    path = measure_conference_path(scale_tile, blit_tile, opts)
    say(f"conference path: {path.view_ms:.3f} ms per view frame beyond encode and tiles, encode "
        f"{path.encode_ms:.3f} ms per 720p view frame, video packet in +{path.video_in_us:.1f} us / "
        f"out {path.video_out_us:.1f} us; {path.video_room_ms:.1f} ms/s for running it on threads "
        "in real time")
    encode_note = ""
    if opts.content == "synthetic":
        # the load scenarios' views: what the meeting really encoded (speaker borders move,
        # senders' keyframes refresh the tiles, periodic IDRs), every tier and preset scaled alike
        factor = path.encode_ms / encode["ultrafast"]["hd720"] if "ultrafast" in encode else 1.0
        encode = {p: {t: v * factor for t, v in costs.items()} for p, costs in encode.items()}
        encode_note = (f"; scaled by {factor:.2f} to the 720p encode of the reference meeting's views "
                       f"({path.encode_ms:.3f} ms per frame on the conference path)")
        say(f"encode: scaled by {factor:.2f} to the reference meeting's views")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cores = len(os.sched_getaffinity(0))
    notes = {
        "video": f"libx264 via mcu.media, threads=1, constrained-baseline, content={opts.content} "
                 "(synthetic: decode one site's still picture, encode the 3x3 composite of them), "
                 f"{opts.frames} frames per figure; bitrates sd360/hd720/fhd1080 = 512/1500/3000 kbit/s"
                 + encode_note,
        "compose.scale_ms_per_tile": "mcu.layout.compose.render_tile: a 640x360 picture scaled into a "
                                     f"tile of layout {COMPOSE_LAYOUT} at 1280x720 with border and label",
        "compose.blit_ms_per_tile": f"mcu.layout.compose of layout {COMPOSE_LAYOUT} at 1280x720 from drawn "
                                    "tiles (background, copies), per tile per view",
        "audio.mix_us_per_member": f"mcu.mix.mix_minus_levels, {MIX_MEMBERS} members, K={MIX_SPEAKERS}, "
                                   "48 kHz 20 ms, per member",
        "network.rtp_us_per_packet": "loopback UDP: receive + RtpPacket.parse + header rewrite + send, "
                                     "per packet handled",
        "compose.view_ms": f"mcu.replay of the reference meeting ({REFERENCE_SITES} sites, 360p in, 720p grid "
                           "out), inline: video phase CPU per view frame minus its encoders, tile drawing "
                           f"and copies (median of {opts.reference_repeats})",
        "network.video_in_us_per_packet": "the reference meeting inline: receive CPU per video packet minus "
                                          "its decode, minus that per audio packet",
        "network.video_out_us_per_packet": "the reference meeting inline: CPU of each viewer's video "
                                           "packets (header rewrite, serialisation) per packet",
        "overhead.video_room_ms": "the same meeting replayed on worker threads in real time minus inline, "
                                  f"CPU ms per second (mean of {opts.reference_repeats})",
    }
    return Calibration(
        cores=cores, usable_fraction=USABLE_FRACTION, decode_ms=decode, encode_ms=encode,
        scale_ms_per_tile=scale_tile, blit_ms_per_tile=blit_tile, mix_us_per_member=mix_us,
        audio_decode_us=dec_us, audio_encode_us=enc_us, rtp_us_per_packet=rtp_us,
        view_ms=path.view_ms, video_room_ms=path.video_room_ms, video_in_us_per_packet=path.video_in_us,
        video_out_us_per_packet=path.video_out_us, machine_name=socket.gethostname(), measured=now,
        source=f"mcu bench calibrate (content={opts.content})", notes=notes,
    )


def with_loads(cal: Calibration, loads: list[LoadScenario]) -> Calibration:
    """`cal` with these measured load scenarios as its [[load]] entries."""
    return replace(cal, loads=tuple(loads))


def calibrate(out: str | Path, opts: CalibrateOptions | None = None,
              progress: Callable[[str], None] | None = None) -> Calibration:
    cal = measure(opts, progress)
    save_calibration(cal, out)
    return cal


def cmd_calibrate(args: argparse.Namespace) -> int:
    if not args.units_only and (REPO / "bench" / "__main__.py").exists():
        # the whole calibration: the benchmark suite runs the 100-member audio scenario against
        # a real `mcu serve` for the running MCU's RTP and audio costs, then these unit costs
        output = Path(args.output).resolve()
        rest = [AUDIO_REFERENCE, "calibrate", "--no-peers", "--content", args.content,
                "--calibration-out", str(output), *(["--quick"] if args.quick else [])]
        code = subprocess.call([sys.executable, "-m", "bench", *rest], cwd=REPO)
        if code == 0 and output.exists():
            print(f"{args.output}: calibration written; plan with `mcu plan --calibration {args.output}`")
        return code
    opts = CalibrateOptions.quick(args.content) if args.quick else CalibrateOptions(content=args.content)
    try:
        cal = calibrate(args.output, opts, progress=lambda m: print("  " + m, file=sys.stderr))
    except CalibrationError as exc:
        print(f"calibration failed: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: calibration of {cal.machine_name} ({cal.cores} cores) written; "
          f"plan with `mcu plan --calibration {args.output}`")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The whole suite (`python -m bench`), which lives in the repository's bench/ folder."""
    if not (REPO / "bench" / "__main__.py").exists():
        print("the benchmark suite (bench/) is not in this installation: run it from a checkout",
              file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "bench", *args.rest], cwd=REPO)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `mcu bench calibrate` and `mcu bench run` to the `mcu` command."""
    bench = subparsers.add_parser("bench", help="benchmarks and machine calibration")
    sub = bench.add_subparsers(dest="bench_command", required=True)
    cal = sub.add_parser("calibrate", help="measure this machine's unit costs for `mcu plan`")
    cal.add_argument("-o", "--output", default="calibration.toml", help="file to write (TOML)")
    cal.add_argument("--quick", action="store_true", help="few frames: a rough figure in seconds")
    cal.add_argument("--content", choices=CONTENTS, default="moving",
                     help="video content to code (default: moving, closer to camera video)")
    cal.add_argument("--units-only", action="store_true",
                     help="only the in-process measurements (no audio scenario against a running MCU; "
                          "RTP and audio costs then come from loopback and kernel micro-benchmarks)")
    cal.set_defaults(func=cmd_calibrate)
    run = sub.add_parser("run", help="the benchmark suite: python -m bench [SCENARIO|all] [--quick]")
    run.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for python -m bench")
    run.set_defaults(func=cmd_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcu")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
