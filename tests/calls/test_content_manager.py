"""The content path without sockets: floor -> the presenter's stream decoded once -> one encode per
distinct receiver setting -> every receiver's own RTP; one receiver's failure is its own."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

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
from tests.helpers import write_test_config

OFFERS = Path(__file__).resolve().parents[1] / "sdp" / "offers"


class FakeTransport:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.rtp, self.rtcp = fail, [], []

    def send_rtp_many(self, packets: list[bytes]) -> None:
        if self.fail:
            raise OSError("network unreachable")
        self.rtp.extend(packets)

    def send_rtcp(self, data: bytes) -> None:
        self.rtcp.append(data)


class FakeShell:
    udp_port, tcp_port, tls_port = 5070, 5071, 0

    def __init__(self) -> None:
        self.sent = []

    def transmit(self) -> None:
        pass


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path):
    config = load_config(write_test_config(tmp_path, 5060, rooms='[[room]]\nnumber = "4100"\n'))
    legs: dict[str, Leg] = {}
    clock = Clock()
    manager = ContentManager(config, Conference(config), legs, clock)
    manager.shell = FakeShell()  # type: ignore[assignment]
    return manager, legs, clock


def join(manager, legs, name: str, member_id: int, fail: bool = False, offer: str = "polycom_group_udp_bfcp"):
    call_id = f"call-{name}"
    terms = manager.terms_for(call_id, "4100")
    result = negotiate((OFFERS / f"{offer}.sdp").read_bytes(), Capabilities(), "127.0.0.1",
                       [30000, 30002, 30004, 30006], bfcp=terms)
    leg = Leg(call_id)
    leg.transports[CONTENT] = FakeTransport(fail)  # type: ignore[assignment]
    leg.negotiation = result
    leg.member = SimpleNamespace(room="4100", display_name=name, chair=False, member_id=member_id,  # type: ignore[assignment]
                                 rtcp={}, call_id=call_id)
    legs[call_id] = leg
    manager.joined(leg, result)
    return leg, terms


def take_floor(manager, terms, now):
    rc = manager.rooms["4100"]
    rc.server.receive(encode(Message(P.FLOOR_REQUEST, terms.conference_id, 1, terms.user_id,
                                     [Attribute(A.FLOOR_ID, 1)], version=2)), ("udp", ("127.0.0.1", 9)), now)
    manager.process_events()


def present(manager, leg, frames: int, clock) -> None:
    """The presenter's H.264 content stream: a white slide, packetized as a terminal sends it."""
    encoder = create_video_encoder(VideoEncoderConfig("H264", 640, 360, fps=5, keyint=5, profile="constrained-baseline"))
    picture = alloc_i420(640, 360, (235, 128, 128))
    payloader, seq = H264Payloader(1), 0
    pt = leg.negotiation.content_line().codecs[0].payload_type
    for i in range(frames):
        for frame in encoder.encode(picture, i * 18000, force_keyframe=i == 0):
            payloads = payloader.payload_nals(1200, list(frame.nals))
            for k, payload in enumerate(payloads):
                packet = RtpPacket(pt, seq, i * 18000, 0x5151, k == len(payloads) - 1, payload)
                manager.receive_rtp(leg, RtpPacket.parse(packet.serialize()), clock.now)
                seq += 1
        clock.now += 0.2


def tick(manager, clock):
    out = []
    for rc, encoding, picture, pts, force in manager.frame_jobs(clock.now):
        payloads, keyframe = manager.encode(encoding, picture, pts, force)
        manager.deliver(rc, encoding, payloads, keyframe, pts, clock.now)
        out.append((encoding, keyframe))
    clock.now += 0.2
    return out


def test_presenter_decoded_once_and_encoded_once_for_receivers_alike(setup):
    manager, legs, clock = setup
    presenter, terms = join(manager, legs, "presenter", 1)
    good, _ = join(manager, legs, "good", 2)
    join(manager, legs, "broken", 3, fail=True)
    take_floor(manager, terms, clock.now)
    assert manager.rooms["4100"].presenter == presenter.call_id
    present(manager, presenter, 3, clock)
    frames = [tick(manager, clock) for _ in range(3)]
    assert all(len(f) == 1 for f in frames)  # one encoding for both receivers (same setting)
    assert frames[0][0][1] is True  # the first content frame is a keyframe
    assert good.transports[CONTENT].rtp and not presenter.transports[CONTENT].rtp  # never back to the presenter
    assert manager.errors["content send"] >= 1  # the broken receiver's failure, counted at it
    header = RtpPacket.parse(good.transports[CONTENT].rtp[0])
    assert header.payload_type == good.negotiation.content_line().codecs[0].payload_type


def test_a_site_that_joins_while_content_runs_gets_a_keyframe(setup):
    manager, legs, clock = setup
    presenter, terms = join(manager, legs, "presenter", 1)
    join(manager, legs, "early", 2)
    take_floor(manager, terms, clock.now)
    present(manager, presenter, 2, clock)
    for _ in range(6):
        tick(manager, clock)
    clock.now += 2.0
    late, _ = join(manager, legs, "late", 3)
    frames = tick(manager, clock)
    assert frames and frames[0][1] is True, frames
    assert late.transports[CONTENT].rtp


def test_content_without_the_floor_is_dropped_and_the_floor_frees_when_the_presenter_leaves(setup):
    manager, legs, clock = setup
    presenter, terms = join(manager, legs, "presenter", 1)
    other, _ = join(manager, legs, "other", 2)
    present(manager, other, 2, clock)  # nobody granted: nothing decoded, nothing sent
    assert tick(manager, clock) == []
    take_floor(manager, terms, clock.now)
    present(manager, presenter, 2, clock)
    assert tick(manager, clock)
    manager.left(presenter.call_id)
    rc = manager.rooms["4100"]
    assert rc.presenter is None and rc.server.holder_user is None
    assert tick(manager, clock) == []


def presenting_to_a_viewer(setup):
    """A presenter with the floor, a viewer, and content going out for a while (past the
    keyframe rate limit)."""
    manager, legs, clock = setup
    presenter, terms = join(manager, legs, "presenter", 1)
    viewer, _ = join(manager, legs, "viewer", 2)
    take_floor(manager, terms, clock.now)
    present(manager, presenter, 2, clock)
    for _ in range(6):
        tick(manager, clock)
    clock.now += 2.0
    return manager, presenter, viewer, clock


def test_pli_on_a_receivers_content_stream_asks_its_encoding_for_a_keyframe(setup):
    from mcu.rtp.rtcp import Pli

    manager, _, viewer, clock = presenting_to_a_viewer(setup)
    manager.receive_rtcp(viewer, [Pli(1, 2)], clock.now)
    assert tick(manager, clock)[0][1] is True
    manager.receive_rtcp(viewer, [Pli(1, 2)], clock.now)  # again at once: rate-limited
    assert tick(manager, clock)[0][1] is False


def test_a_presenter_sending_garbage_costs_nobody_their_content(setup):
    import random

    manager, legs, clock = setup
    presenter, terms = join(manager, legs, "presenter", 1)
    viewer, _ = join(manager, legs, "viewer", 2)
    take_floor(manager, terms, clock.now)
    present(manager, presenter, 2, clock)
    assert tick(manager, clock)
    rng = random.Random(3)
    pt = presenter.negotiation.content_line().codecs[0].payload_type
    for seq in range(300):  # garbage H.264 in well-formed RTP, then garbage of other payload types
        payload = rng.randbytes(rng.randint(1, 1400))
        manager.receive_rtp(presenter, RtpPacket(pt if seq < 200 else 13, 1000 + seq, seq * 90, 0x5151, seq % 3 == 0,
                                                 payload), clock.now)
    manager.housekeeping(clock.now)
    sent = len(viewer.transports[CONTENT].rtp)
    assert tick(manager, clock)  # the last good slide still goes out
    assert len(viewer.transports[CONTENT].rtp) > sent


def test_a_reloaded_policy_applies_to_the_next_request(setup, tmp_path):
    manager, legs, clock = setup
    join(manager, legs, "a", 1)
    _, terms = join(manager, legs, "b", 2)
    rooms = '[[room]]\nnumber = "4100"\ncontent_policy = "operator"\n'
    (tmp_path / "reload").mkdir()
    manager.reconfigure(load_config(write_test_config(tmp_path / "reload", 5060, rooms=rooms)))
    take_floor(manager, terms, clock.now)
    rc = manager.rooms["4100"]
    assert rc.server.holder_user is None and rc.server.pending_users() == [terms.user_id]


@pytest.mark.parametrize("name", ["0" * 5000, "bad\0name.png", "missing.pdf", "slides.txt"])
def test_slides_that_cannot_be_shown_are_refused_with_a_reason(setup, tmp_path, name):
    from mcu.media.slides import SlidesError

    manager, _, _ = setup
    path = tmp_path / name if "\0" not in name and len(name) < 200 else Path(name)
    if name.endswith(".txt"):
        path.write_text("not a picture")
    with pytest.raises(SlidesError):
        manager.start_slides("4100", path)
    assert not manager.rooms["4100"].operator  # nothing changed


def test_sender_reports_on_content_streams_once_a_second(setup):
    from mcu.rtp.rtcp import SenderReport, parse_compound

    manager, legs, clock = setup
    presenter, terms = join(manager, legs, "presenter", 1)
    viewer, _ = join(manager, legs, "viewer", 2)
    manager.housekeeping(clock.now, publish=True)
    assert viewer.transports[CONTENT].rtcp == []  # nothing sent yet: no report
    take_floor(manager, terms, clock.now)
    present(manager, presenter, 2, clock)
    tick(manager, clock)
    manager.housekeeping(clock.now, publish=False)
    assert viewer.transports[CONTENT].rtcp == []
    manager.housekeeping(clock.now, publish=True)
    reports = [p for data in viewer.transports[CONTENT].rtcp for p in parse_compound(data)]
    assert any(isinstance(p, SenderReport) and p.packet_count > 0 for p in reports), reports


def test_a_dial_out_keeps_the_bfcp_user_it_offered_once_it_has_a_call_id(setup):
    manager, _, _ = setup
    offered = manager.terms_for("dial-provisional", "4100")
    manager.rebind("dial-provisional", "call-dialled")
    assert manager.terms_for("call-dialled", "4100").user_id == offered.user_id
    manager.left("dial-never-placed")  # a provisional id that never became a call: nothing breaks
    assert manager.rooms["4100"].calls[offered.user_id] == "call-dialled"


def test_a_floor_request_by_another_protocol_follows_the_policy_and_is_told_of_revocation(setup):
    """What the H.239 side uses: request_floor/release_floor and floor_listeners."""
    manager, legs, clock = setup
    bfcp_site, terms = join(manager, legs, "bfcp", 1)
    h323 = Leg("call-h323")
    h323.member = SimpleNamespace(room="4100", display_name="h323", chair=False, member_id=9, rtcp={})  # type: ignore[assignment]
    legs[h323.call_id] = h323
    moves = []
    manager.floor_listeners.append(lambda room, now_presenting, before: moves.append((now_presenting, before)))
    manager.floor_listeners.append(lambda *args: 1 / 0)  # a broken listener costs nobody
    assert manager.request_floor(h323) == "granted"
    assert manager.presenter_of("4100") == h323.call_id
    take_floor(manager, terms, clock.now)  # the BFCP site takes over: the H.323 site is told
    assert manager.presenter_of("4100") == bfcp_site.call_id
    assert moves[-1] == (bfcp_site.call_id, h323.call_id)
    assert manager.errors["floor listener"] >= 1
    manager.release_floor(h323)  # nothing held any more: harmless
    assert manager.presenter_of("4100") == bfcp_site.call_id
    rc = manager.rooms["4100"]
    rc.server.policy = type(rc.server.policy)("chair")
    manager.release_floor(bfcp_site)
    assert manager.request_floor(h323) == "denied"


def test_h245_keyframe_requests_go_both_ways_for_h323_content(setup):
    """An H.239 receiver's videoFastUpdatePicture asks its encoding for a keyframe, as a PLI would;
    the presenter's missing keyframe is asked of an H.323 presenter in H.245 as well as RTCP."""
    from mcu.rtp.rtcp import Pli

    manager, presenter, viewer, clock = presenting_to_a_viewer(setup)
    manager.keyframe_requested(viewer)  # what h323_adapter does on KeyframeRequested(role content)
    assert tick(manager, clock)[0][1] is True
    asked: list[str] = []
    presenter.on_content_keyframe_request = lambda: asked.append("videoFastUpdatePicture")
    source = manager.rooms["4100"].source
    assert source is not None
    source.feedback.append(Pli(1, 0x5151))
    manager.housekeeping(clock.now)
    assert asked == ["videoFastUpdatePicture"] and not source.feedback
