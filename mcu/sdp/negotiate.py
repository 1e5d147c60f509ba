"""SDP offer/answer (RFC 3264) as pure functions.

* ``negotiate(offer, capabilities, local_addr, ports, profile)``: we answer (UAS, or a re-INVITE).
* ``create_offer(capabilities, local_addr, media, session_id=...)``: our offer (dial-out, re-offer).
* ``process_answer(offer, answer, capabilities, profile)``: the peer answered our offer (UAC).

Each returns or works with a ``NegotiationResult`` holding our SDP, the peer's, and one
``MediaResult`` per m-line in offer order. Nothing here reads a clock or a socket.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from . import h264 as h264mod
from .bfcp import (
    APPLICATION,
    BFCP_PROTOS,
    UDP_BFCP,
    BfcpLine,
    BfcpTerms,
    answer_bfcp,
    content_label,
    floor_roles,
    is_bfcp,
    is_content,
    offer_bfcp,
)
from .codecs import (
    AUDIO,
    CODECS,
    H263,
    H263_1998,
    H263_FORMATS,
    H264,
    OFFER_PT,
    OPUS,
    STATIC_BY_PT,
    TELEPHONE_EVENT,
    VIDEO,
    VP8,
    Capabilities,
    canonical_name,
    h263_formats,
    h263_limits,
    vp8_limits,
)
from .crypto import SrtpKeys, choose_crypto, new_key, parse_crypto
from .h264 import H264ParameterError, ProfileLevelId, VideoLimits, frame_macroblocks
from .profiles import DEFAULT_PROFILE, EndpointProfile
from .session import (
    DEFAULT_DIRECTION,
    DIRECTIONS,
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
    format_fmtp_params,
    is_number,
    parse,
    parse_fmtp_params,
    serialize,
)

SUPPORTED_PROTOS = ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF")
SECURE_PROTOS = ("RTP/SAVP", "RTP/SAVPF")  # SDES-SRTP (RFC 4568): keys in a=crypto
MAIN_CONTENT = "main"
STATUS_OK = 200
STATUS_NOT_ACCEPTABLE_HERE = 488
INITIAL_VERSION = 1
DTMF_EVENTS = "0-15"
IGNORED_RTCP_FB = frozenset({"goog-remb", "transport-cc"})

REJECT_DISABLED = "disabled by the offerer (port 0)"
REJECT_MEDIA = "unsupported media type"
REJECT_PROTO = "unsupported transport protocol"
REJECT_CONTENT = "presentation (content) video is not supported yet"
REJECT_DUPLICATE = "only one stream of this kind per call"
REJECT_NO_ADDRESS = "no connection address"
REJECT_NO_CODEC = "no common codec"
REJECT_NO_CRYPTO = "no SRTP crypto suite we support (AES_CM_128_HMAC_SHA1_80/_32, inline key, no MKI)"
REJECT_BY_PEER = "rejected by the peer (port 0)"
REJECT_BFCP_DUPLICATE = "only one BFCP stream per call"

_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
            "inactive": "inactive"}


class NegotiationError(ValueError):
    """An answer (or offer) cannot be used: wrong m-line count, unknown payload type..."""


@dataclass(frozen=True)
class ChosenCodec:
    """A negotiated payload type. ``fmtp`` is what our SDP says, ``remote_fmtp`` the peer's."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int
    sample_rate: int
    fmtp: str | None = None
    remote_fmtp: str | None = None
    packetization_mode: int | None = None
    profile_level_id: str | None = None

    @property
    def remote_params(self) -> dict[str, str]:
        return parse_fmtp_params(self.remote_fmtp)


@dataclass(frozen=True)
class MediaResult:
    """What one m-line became. ``direction`` is what we do; ``remote_direction`` what the peer said."""

    index: int
    kind: str
    proto: str
    accepted: bool
    local_port: int
    remote_port: int
    reject_reason: str | None = None
    remote_address: str | None = None
    remote_rtcp_port: int | None = None
    rtcp_mux: bool = False
    codecs: tuple[ChosenCodec, ...] = ()
    telephone_event: ChosenCodec | None = None
    direction: str = "inactive"
    remote_direction: str = DEFAULT_DIRECTION
    on_hold: bool = False
    bandwidth_as: int | None = None
    bandwidth_tias: int | None = None
    max_send_kbps: int | None = None
    rtcp_fb: frozenset[str] = frozenset()
    ssrcs: tuple[int, ...] = ()
    content: str | None = None
    ptime: int | None = None
    video_limits: VideoLimits | None = None
    dtmf: str | None = None  # "rfc4733", "info" or "both" for audio
    keyframe_methods: tuple[str, ...] = ()
    keyframe_min_interval: float | None = None
    srtp: SrtpKeys | None = None  # SDES-SRTP keys of an RTP/SAVP(F) line
    bfcp: BfcpLine | None = None  # the floor control terms of an accepted BFCP line
    label: str | None = None  # a=label of our side of a content line (what floorid mstrm names)

    @property
    def is_content(self) -> bool:
        return self.kind == VIDEO and self.content == "slides"

    @property
    def codec(self) -> ChosenCodec | None:
        return self.codecs[0] if self.codecs else None

    @property
    def we_send(self) -> bool:
        return self.accepted and self.direction in ("sendrecv", "sendonly")

    @property
    def we_receive(self) -> bool:
        return self.accepted and self.direction in ("sendrecv", "recvonly")


def all_srtp(lines: Sequence[MediaResult | None]) -> bool:
    """Every accepted line is SRTP (and at least one line is accepted)."""
    accepted = [m for m in lines if m is not None and m.accepted]
    return bool(accepted) and all(m.srtp is not None for m in accepted)


@dataclass(frozen=True)
class NegotiationResult:
    local: SessionDescription
    remote: SessionDescription
    media: tuple[MediaResult, ...]
    we_offered: bool = False

    @property
    def answer(self) -> SessionDescription:
        return self.remote if self.we_offered else self.local

    @property
    def all_rejected(self) -> bool:
        """True when no m-line was accepted: a UAS should answer 488 Not Acceptable Here."""
        return not any(m.accepted for m in self.media)

    @property
    def encrypted(self) -> bool:
        return all_srtp(self.media)

    @property
    def status_code(self) -> int:
        return STATUS_NOT_ACCEPTABLE_HERE if self.all_rejected else STATUS_OK

    @property
    def local_sdp(self) -> str:
        return serialize(self.local)

    def first(self, kind: str) -> MediaResult | None:
        """The accepted main m-line of a kind ("audio", "video"), if any (not the content line)."""
        return next((m for m in self.media if m.accepted and m.kind == kind and not m.is_content), None)

    def content_line(self) -> MediaResult | None:
        """The accepted content (a=content:slides) video line, if any."""
        return next((m for m in self.media if m.accepted and m.is_content), None)

    def bfcp_line(self) -> MediaResult | None:
        return next((m for m in self.media if m.accepted and m.bfcp is not None), None)


# --- helpers -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Offered:
    pt: int
    name: str  # our canonical name
    clock_rate: int
    channels: int
    fmtp: str | None
    params: dict[str, str] = field(default_factory=dict)


def _offered_formats(m: MediaDescription) -> list[_Offered]:
    rtpmaps = m.rtpmaps()
    out = []
    for pt in m.payload_types:
        rtpmap = rtpmaps.get(pt)
        if rtpmap is not None:
            name, clock, channels = canonical_name(rtpmap.encoding), rtpmap.clock_rate, rtpmap.channels
        elif pt in STATIC_BY_PT:
            spec = STATIC_BY_PT[pt]
            name, clock, channels = spec.name, spec.clock_rate, 1
        else:
            continue
        if name is None:
            continue
        fmtp = m.fmtp(pt)
        out.append(_Offered(pt, name, clock, channels, fmtp, parse_fmtp_params(fmtp)))
    return out


def media_direction(session: SessionDescription, m: MediaDescription) -> str:
    return m.direction_attribute() or session.direction_attribute() or DEFAULT_DIRECTION


def _intersect_direction(ours: str, theirs_reversed: str) -> str:
    send = ours in ("sendrecv", "sendonly") and theirs_reversed in ("sendrecv", "sendonly")
    recv = ours in ("sendrecv", "recvonly") and theirs_reversed in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly",
            (False, False): "inactive"}[(send, recv)]


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _rtcp_fb(m: MediaDescription, pt: int) -> frozenset[str]:
    out = set()
    for value in m.values("rtcp-fb"):
        target, _, rest = value.partition(" ")
        if target in ("*", str(pt)):
            feedback = " ".join(rest.split())
            if feedback and feedback.split()[0] not in IGNORED_RTCP_FB:
                out.add(feedback)
    return frozenset(out)


def _ssrcs(m: MediaDescription) -> tuple[int, ...]:
    out: list[int] = []
    for value in m.values("ssrc"):
        head = value.split(" ", 1)[0]
        if is_number(head) and int(head) not in out:
            out.append(int(head))
    return tuple(out)


def _rtcp_port(m: MediaDescription) -> int | None:
    value = m.first("rtcp")
    if value:
        head = value.split()[0] if value.split() else ""
        if is_number(head) and int(head) < 65536:
            return int(head)
    return m.port + 1 if m.port else None


def _int_attr(m: MediaDescription, name: str) -> int | None:
    value = m.first(name)
    if value and value.split(".")[0].isdigit():
        return int(value.split(".")[0])
    return None


def _keyframe_methods(profile: EndpointProfile, fb: frozenset[str]) -> tuple[str, ...]:
    """Profile's wish, narrowed to what the peer signalled if it signalled any keyframe feedback."""
    wanted = ("pli", "fir") if profile.keyframe_method == "both" else (profile.keyframe_method,)
    signalled = tuple(m for m, key in (("pli", "nack pli"), ("fir", "ccm fir")) if key in fb)
    if not signalled:
        return wanted
    common = tuple(m for m in wanted if m in signalled)
    return common or signalled


def _video_caps(capabilities: Capabilities, profile: EndpointProfile) -> tuple[int, int, float]:
    width, height = capabilities.video_max_width, capabilities.video_max_height
    if profile.max_resolution is not None:
        width, height = min(width, profile.max_resolution[0]), min(height, profile.max_resolution[1])
    fps = capabilities.video_max_fps
    if profile.max_fps is not None:
        fps = min(fps, profile.max_fps)
    return width, height, fps


def _min_opt(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


# --- codec choice --------------------------------------------------------------------


@dataclass(frozen=True)
class _Choice:
    offered: _Offered
    codec: ChosenCodec
    limits: VideoLimits | None = None


def _choose_audio(offered: list[_Offered], capabilities: Capabilities) -> _Choice | None:
    for name in capabilities.audio_codecs:
        for o in offered:
            if o.name != name:
                continue
            spec = CODECS[name]
            if o.clock_rate != spec.clock_rate:
                continue  # e.g. PCMU/8010: not the codec we have (RFC 3551 fixes its clock)
            if name == OPUS:
                fmtp = capabilities.opus_fmtp
            else:
                fmtp = None
            channels = o.channels if name == OPUS else 1
            codec = ChosenCodec(o.pt, name, o.clock_rate, channels, spec.real_sample_rate, fmtp,
                                o.fmtp)
            return _Choice(o, codec)
    return None


def _choose_telephone_event(offered: list[_Offered], clock_rate: int) -> ChosenCodec | None:
    events = [o for o in offered if o.name == TELEPHONE_EVENT]
    events.sort(key=lambda o: o.clock_rate != clock_rate)  # same clock as the voice codec first
    if not events:
        return None
    o = events[0]
    return ChosenCodec(o.pt, TELEPHONE_EVENT, o.clock_rate, 1, o.clock_rate, DTMF_EVENTS, o.fmtp)


def _h264_choice(o: _Offered, capabilities: Capabilities, profile: EndpointProfile,
                 caps: tuple[int, int, float]) -> tuple[tuple[int, int, int], _Choice] | None:
    mode_text = o.params.get("packetization-mode", "0")
    if mode_text not in ("0", "1"):
        return None
    mode = int(mode_text)
    modes = (0,) if profile.force_packetization_mode_0 else capabilities.h264_packetization_modes
    if mode not in modes:
        return None
    try:
        plid = ProfileLevelId.parse(o.params.get("profile-level-id"))
        h264_profile = plid.profile
        offered_level = plid.level
    except H264ParameterError:
        return None
    if h264_profile is None:
        return None
    asymmetry = o.params.get("level-asymmetry-allowed") == "1"
    answer_plid = h264mod.answer_profile_level_id(plid, capabilities.h264_max_level, asymmetry)
    params: dict[str, str] = {"profile-level-id": str(answer_plid)}
    if "packetization-mode" in o.params:
        params["packetization-mode"] = mode_text
    if asymmetry:
        params["level-asymmetry-allowed"] = "1"
    # What the member receives is bounded by its own level (asymmetric) or the common one.
    send_level = offered_level if asymmetry else answer_plid.level
    try:
        limits = h264mod.h264_limits(o.params, send_level, *caps)
    except H264ParameterError:
        return None
    codec = ChosenCodec(o.pt, H264, o.clock_rate, 1, o.clock_rate, format_fmtp_params(params),
                        o.fmtp, packetization_mode=mode, profile_level_id=str(answer_plid))
    rank = (modes.index(mode), h264mod.PROFILE_RANK[h264_profile], 0)
    return rank, _Choice(o, codec, limits)


def _h263_choice(o: _Offered, capabilities: Capabilities,
                 caps: tuple[int, int, float]) -> _Choice | None:
    formats = {k: v for k, v in h263_formats(o.params).items() if k in capabilities.h263_formats}
    limits = h263_limits(formats, *caps)
    if limits is None:
        return None
    kept = {k: str(formats[k]) for k in H263_FORMATS if k in formats
            and H263_FORMATS[k][0] <= caps[0] and H263_FORMATS[k][1] <= caps[1]}
    codec = ChosenCodec(o.pt, o.name, o.clock_rate, 1, o.clock_rate, format_fmtp_params(kept),
                        o.fmtp)
    return _Choice(o, codec, limits)


def _vp8_fmtp(capabilities: Capabilities, caps: tuple[int, int, float]) -> str:
    return f"max-fs={frame_macroblocks(caps[0], caps[1])};max-fr={int(caps[2])}"


def _choose_video(offered: list[_Offered], capabilities: Capabilities,
                  profile: EndpointProfile) -> _Choice | None:
    caps = _video_caps(capabilities, profile)
    order = profile.video_codecs or capabilities.video_codecs
    order = tuple(c for c in order if c in capabilities.video_codecs) or capabilities.video_codecs
    for name in order:
        best: tuple[tuple[int, int, int], _Choice] | None = None
        for position, o in enumerate(offered):
            if o.name != name:
                continue
            if name == H264:
                ranked = _h264_choice(o, capabilities, profile, caps)
                if ranked is not None:
                    rank = (ranked[0][0], ranked[0][1], position)
                    if best is None or rank < best[0]:
                        best = (rank, ranked[1])
            elif name == VP8:
                limits = vp8_limits(o.params, *caps)
                codec = ChosenCodec(o.pt, VP8, o.clock_rate, 1, o.clock_rate,
                                    _vp8_fmtp(capabilities, caps), o.fmtp)
                return _Choice(o, codec, limits)
            elif name in (H263_1998, H263):
                choice = _h263_choice(o, capabilities, caps)
                if choice is not None:
                    return choice
        if best is not None:
            return best[1]
    return None


# --- SDP writing ---------------------------------------------------------------------


def _codec_attributes(codec: ChosenCodec, fb: Sequence[str]) -> list[Attribute]:
    rtpmap = f"{codec.payload_type} {codec.name}/{codec.clock_rate}"
    if codec.channels > 1:
        rtpmap += f"/{codec.channels}"
    attrs = [Attribute("rtpmap", rtpmap)]
    if codec.fmtp:
        attrs.append(Attribute("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    attrs.extend(Attribute("rtcp-fb", f"{codec.payload_type} {f}") for f in fb)
    return attrs


_FB_ORDER = ("nack", "nack pli", "ccm fir")


def _sorted_fb(fb: frozenset[str]) -> list[str]:
    return sorted(fb, key=lambda f: (_FB_ORDER.index(f) if f in _FB_ORDER else len(_FB_ORDER), f))


def _rejected_media(m: MediaDescription) -> MediaDescription:
    return MediaDescription(m.media, 0, m.proto, list(m.formats))


def _new_session(capabilities: Capabilities, local_addr: str, session_id: int,
                 media: list[MediaDescription]) -> SessionDescription:
    addrtype = _addrtype(local_addr)
    return SessionDescription(
        origin=Origin(capabilities.username, session_id, INITIAL_VERSION, "IN", addrtype, local_addr),
        name=capabilities.session_name,
        connection=Connection("IN", addrtype, local_addr),
        timings=[Timing(0, 0)],
        media=media,
    )


def _apply_version(new: SessionDescription, previous: SessionDescription | None) -> None:
    """RFC 3264 section 8: same o= session id; version +1 only if anything else changed."""
    if previous is None:
        return
    new.origin = replace(previous.origin, address=new.origin.address,
                         addrtype=new.origin.addrtype)
    if serialize(new) != serialize(previous):
        new.origin.version = previous.origin.version + 1


def _coerce(sdp: SessionDescription | str | bytes) -> SessionDescription:
    return sdp if isinstance(sdp, SessionDescription) else parse(sdp)


def _remote_bandwidths(session: SessionDescription,
                       m: MediaDescription) -> tuple[int | None, int | None]:
    as_kbps = m.bandwidth("AS")
    tias = m.bandwidth("TIAS")
    if as_kbps is None and tias is None:
        as_kbps, tias = session.bandwidth("AS"), session.bandwidth("TIAS")
    return as_kbps, tias


# --- answering -----------------------------------------------------------------------


def negotiate(offer: SessionDescription | str | bytes, capabilities: Capabilities,
              local_addr: str, ports: Sequence[int], profile: EndpointProfile = DEFAULT_PROFILE,
              *, previous: SessionDescription | None = None,
              session_id: int | None = None, bfcp: BfcpTerms | None = None,
              content: bool = False) -> NegotiationResult:
    """Answer an offer (RFC 3264 section 6), keeping its m-line order.

    ``ports[i]`` is our RTP port for m-line i (unused when that line is rejected).
    ``previous`` is the SDP we last sent in this dialog (re-INVITE): its o= session id is kept and
    the version goes up by one only if the answer changed. ``session_id`` defaults to a value
    derived from the offer so that the function stays pure.
    ``content``: a content (``a=content:slides``) video line is accepted beside the main one;
    ``bfcp``: our floor control terms, so that a BFCP line is answered (content implied).
    """
    offer = _coerce(offer)
    if len(ports) < len(offer.media):
        raise ValueError(f"need one local port per m-line: {len(offer.media)} m-lines, "
                         f"{len(ports)} ports")
    if session_id is None:
        session_id = zlib.crc32(str(offer.origin).encode())
    answer_media: list[MediaDescription] = []
    results: list[MediaResult] = []
    taken: set[str] = set()
    content = content or bfcp is not None
    for index, m in enumerate(offer.media):
        if is_bfcp(m):
            answer_media.append(_rejected_media(m))  # answered below, once the content line is known
            results.append(MediaResult(index, m.media, m.proto, False, 0, m.port))
            continue
        before = previous.media[index] if previous is not None and index < len(previous.media) else None
        answer_m, result = _answer_media(index, offer, m, capabilities, profile, ports[index], taken, before,
                                         content)
        answer_media.append(answer_m)
        results.append(result)
        if result.accepted:
            taken.add("content" if result.is_content else result.kind)
    _answer_bfcp_lines(offer, bfcp, answer_media, results)
    answer = _new_session(capabilities, local_addr, session_id, answer_media)
    _apply_version(answer, previous)
    return NegotiationResult(answer, offer, tuple(results))


def _answer_bfcp_lines(offer: SessionDescription, terms: BfcpTerms | None, answer_media: list[MediaDescription],
                       results: list[MediaResult]) -> None:
    content = next((r for r in results if r.accepted and r.is_content), None)
    done = False
    for index, m in enumerate(offer.media):
        if not is_bfcp(m):
            continue
        direction = media_direction(offer, m)
        if m.port == 0:
            answer_media[index], results[index] = _reject(index, m, REJECT_DISABLED, direction)
            continue
        if terms is None:
            answer_media[index], results[index] = _reject(index, m, REJECT_MEDIA, direction)  # no floor control here
            continue
        if done:
            answer_media[index], results[index] = _reject(index, m, REJECT_BFCP_DUPLICATE, direction)
            continue
        connection = offer.connection_for(m)
        if connection is None:
            answer_media[index], results[index] = _reject(index, m, REJECT_NO_ADDRESS, direction)
            continue
        answered = answer_bfcp(m, terms, content.label if content is not None else None)
        if isinstance(answered, str):
            answer_media[index], results[index] = _reject(index, m, answered, direction)
            continue
        answer_media[index], line = answered
        results[index] = MediaResult(index, m.media, m.proto, True, answer_media[index].port, m.port,
                                     remote_address=connection.host, direction="sendrecv", bfcp=line)
        done = True


def _reject(index: int, m: MediaDescription, reason: str,
            remote_direction: str = DEFAULT_DIRECTION) -> tuple[MediaDescription, MediaResult]:
    return _rejected_media(m), MediaResult(index, m.media, m.proto, False, 0, m.port, reason,
                                           remote_direction=remote_direction,
                                           content=m.first("content"), ssrcs=_ssrcs(m))


def _answer_media(index: int, offer: SessionDescription, m: MediaDescription,
                  capabilities: Capabilities, profile: EndpointProfile, local_port: int,
                  taken: set[str], before: MediaDescription | None = None,
                  content_allowed: bool = False) -> tuple[MediaDescription, MediaResult]:
    remote_direction = media_direction(offer, m)
    content = m.first("content")
    slides = content_allowed and is_content(m)
    if m.port == 0:
        return _reject(index, m, REJECT_DISABLED, remote_direction)
    if m.media not in (AUDIO, VIDEO):
        return _reject(index, m, REJECT_MEDIA, remote_direction)
    if m.proto.upper() not in SUPPORTED_PROTOS:
        return _reject(index, m, REJECT_PROTO, remote_direction)
    if m.media == VIDEO and content is not None and content != MAIN_CONTENT and not slides:
        return _reject(index, m, REJECT_CONTENT, remote_direction)
    if ("content" if slides else m.media) in taken:
        return _reject(index, m, REJECT_DUPLICATE, remote_direction)
    connection = offer.connection_for(m)
    if connection is None:
        return _reject(index, m, REJECT_NO_ADDRESS, remote_direction)
    crypto = None
    if m.proto.upper() in SECURE_PROTOS:
        crypto = choose_crypto([a.value or "" for a in m.attributes if a.name == "crypto"])
        if crypto is None:
            return _reject(index, m, REJECT_NO_CRYPTO, remote_direction)

    offered = _offered_formats(m)
    telephone_event = None
    if m.media == AUDIO:
        choice = _choose_audio(offered, capabilities)
        if choice is not None and capabilities.telephone_event and profile.sends_rfc4733:
            telephone_event = _choose_telephone_event(offered, choice.codec.clock_rate)
    else:
        if slides:  # content: up to 1080p whatever people video is capped at (the SDP's level still limits it)
            # and at its low frame rate: a level's max-mbps allows a bigger picture at 5 fps than at 30
            capabilities = replace(capabilities, video_max_width=max(capabilities.video_max_width, CONTENT_MAX[0]),
                                   video_max_height=max(capabilities.video_max_height, CONTENT_MAX[1]),
                                   video_max_fps=capabilities.content_fps)
            profile = replace(profile, max_resolution=None)
        choice = _choose_video(offered, capabilities, profile)
    if choice is None:
        return _reject(index, m, REJECT_NO_CODEC, remote_direction)

    hold_address = connection.is_hold_address
    direction = _REVERSE[remote_direction]
    if hold_address:
        direction = _intersect_direction(direction, "recvonly")
    fb = _rtcp_fb(m, choice.codec.payload_type) & capabilities.rtcp_fb
    rtcp_mux = capabilities.rtcp_mux and m.has("rtcp-mux")
    as_kbps, tias = _remote_bandwidths(offer, m)
    cap_kbps = capabilities.video_max_kbps if m.media == VIDEO else capabilities.audio_max_kbps

    attrs = _codec_attributes(choice.codec, _sorted_fb(fb))
    formats = [str(choice.codec.payload_type)]
    if telephone_event is not None:
        attrs += _codec_attributes(telephone_event, ())
        formats.append(str(telephone_event.payload_type))
    bandwidths = []
    if as_kbps is not None or m.media == VIDEO:
        bandwidths.append(Bandwidth("AS", min(cap_kbps, as_kbps or cap_kbps)))
    if tias is not None:
        bandwidths.append(Bandwidth("TIAS", min(cap_kbps * 1000, tias)))
    if m.media == AUDIO:
        attrs.append(Attribute("ptime", str(capabilities.ptime_ms)))
    attrs.append(Attribute(direction))
    if rtcp_mux:
        attrs.append(Attribute("rtcp-mux"))
    label = content_label(m, index) if slides else None
    if slides:
        attrs += [Attribute("content", "slides"), Attribute("label", label)]
    srtp = None
    if crypto is not None:
        # a re-offer keeps our key for the same suite (RFC 4568 7.1.4): no rekey mid-call
        kept = [c for c in map(parse_crypto, before.values("crypto") if before else []) if c is not None]
        key = kept[0].key if kept and kept[0].suite == crypto.suite else new_key()
        ours = replace(crypto, key=key)
        attrs.append(Attribute("crypto", ours.value()))
        srtp = SrtpKeys(crypto.suite, remote_key=crypto.key, local_key=ours.key)
    answer_m = MediaDescription(m.media, local_port, m.proto, formats, bandwidths=bandwidths,
                                attributes=attrs)

    max_send = _min_opt(as_kbps, tias // 1000 if tias is not None else None, cap_kbps)
    limits = choice.limits
    if limits is not None and limits.max_bitrate_kbps is not None:
        max_send = _min_opt(max_send, limits.max_bitrate_kbps)
    result = MediaResult(
        index=index, kind=m.media, proto=m.proto, accepted=True, local_port=local_port,
        remote_port=m.port, remote_address=connection.host,
        remote_rtcp_port=m.port if rtcp_mux else _rtcp_port(m), rtcp_mux=rtcp_mux,
        codecs=(choice.codec,), telephone_event=telephone_event, direction=direction,
        remote_direction=remote_direction,
        on_hold=hold_address or remote_direction in ("sendonly", "inactive"),
        bandwidth_as=as_kbps, bandwidth_tias=tias, max_send_kbps=max_send, rtcp_fb=fb,
        ssrcs=_ssrcs(m), content=content, ptime=_int_attr(m, "ptime"), video_limits=limits,
        dtmf=(profile.dtmf if telephone_event is not None else "info") if m.media == AUDIO
        else None,
        keyframe_methods=_keyframe_methods(profile, fb) if m.media == VIDEO else (),
        keyframe_min_interval=profile.keyframe_min_interval if m.media == VIDEO else None,
        srtp=srtp, label=label,
    )
    return answer_m, result


# --- offering ------------------------------------------------------------------------


def _offer_audio(capabilities: Capabilities, profile: EndpointProfile) -> list[ChosenCodec]:
    codecs = []
    for name in capabilities.audio_codecs:
        spec = CODECS[name]
        pt = spec.static_pt if spec.static_pt is not None else OFFER_PT[name]
        fmtp = capabilities.opus_fmtp if name == OPUS else None
        codecs.append(ChosenCodec(pt, name, spec.clock_rate, spec.channels,
                                  spec.real_sample_rate, fmtp))
    if capabilities.telephone_event and profile.sends_rfc4733:
        rates = sorted({c.clock_rate for c in codecs}, reverse=True)
        for rate in rates:
            pt = OFFER_PT[(TELEPHONE_EVENT, rate)]
            codecs.append(ChosenCodec(pt, TELEPHONE_EVENT, rate, 1, rate, DTMF_EVENTS))
    return codecs


def _offer_video(capabilities: Capabilities, profile: EndpointProfile) -> list[ChosenCodec]:
    caps = _video_caps(capabilities, profile)
    order = profile.video_codecs or capabilities.video_codecs
    order = tuple(c for c in order if c in capabilities.video_codecs) or capabilities.video_codecs
    modes = (0,) if profile.force_packetization_mode_0 else capabilities.h264_packetization_modes
    # Constrained baseline: every legacy terminal decodes it (RFC 6184 42e0xx).
    cb = ProfileLevelId(h264mod.PROFILE_IDC_BASELINE, 0xE0, 0x1F).with_level(
        capabilities.h264_max_level)
    codecs = []
    for name in order:
        if name == H264:
            for mode in modes:
                fmtp = (f"profile-level-id={cb};packetization-mode={mode};"
                        "level-asymmetry-allowed=1")
                codecs.append(ChosenCodec(OFFER_PT[(H264, mode)], H264, 90000, 1, 90000, fmtp,
                                          packetization_mode=mode, profile_level_id=str(cb)))
        elif name == VP8:
            codecs.append(ChosenCodec(OFFER_PT[VP8], VP8, 90000, 1, 90000,
                                      _vp8_fmtp(capabilities, caps)))
        else:
            kept = {k: "1" for k in H263_FORMATS if k in capabilities.h263_formats
                    and H263_FORMATS[k][0] <= caps[0] and H263_FORMATS[k][1] <= caps[1]}
            pt = OFFER_PT[H263_1998] if name == H263_1998 else CODECS[H263].static_pt
            assert pt is not None
            codecs.append(ChosenCodec(pt, name, 90000, 1, 90000, format_fmtp_params(kept)))
    return codecs


CONTENT_MAX = (1920, 1080)  # the largest content picture we send
OFFER_CONTENT_LABEL = "3"  # a=label of the content line in our offers (floorid mstrm names it)


def create_offer(capabilities: Capabilities, local_addr: str, media: Sequence[tuple[str, int]],
                 *, session_id: int, profile: EndpointProfile = DEFAULT_PROFILE,
                 previous: SessionDescription | None = None,
                 direction: str = "sendrecv", bfcp: BfcpTerms | None = None) -> SessionDescription:
    """Our offer: one m-line per ``(kind, port)`` in ``media`` ("audio"/"video"; "content": a video
    line with a=content:slides; "bfcp": our floor control line from ``bfcp``, its port ignored).

    Port 0 keeps a line disabled (a re-offer must not drop m-lines). For a re-offer pass the
    SDP we last sent as ``previous`` (o= version rule) and e.g. ``direction="sendonly"`` to hold.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    lines = []
    for kind, port in media:
        if kind == "bfcp":
            if bfcp is None:
                raise ValueError("offering BFCP needs the floor control terms (bfcp=...)")
            proto = UDP_BFCP if bfcp.udp_port else "TCP/BFCP"
            lines.append(offer_bfcp(bfcp, OFFER_CONTENT_LABEL, proto))
            continue
        if kind == AUDIO:
            codecs = _offer_audio(capabilities, profile)
        elif kind in (VIDEO, "content"):
            codecs = _offer_video(capabilities, profile)
        else:
            raise ValueError(f"cannot offer media kind {kind!r}")
        proto = "RTP/AVP"
        formats = [str(c.payload_type) for c in codecs]
        content = kind == "content"
        kind = VIDEO if content else kind
        if port == 0:
            lines.append(MediaDescription(kind, 0, proto, formats))
            continue
        attrs: list[Attribute] = []
        fb = _sorted_fb(capabilities.rtcp_fb) if kind == VIDEO else []
        for codec in codecs:
            attrs += _codec_attributes(codec, fb if codec.name != TELEPHONE_EVENT else ())
        bandwidths = [Bandwidth("AS", capabilities.video_max_kbps)] if kind == VIDEO else []
        if kind == AUDIO:
            attrs.append(Attribute("ptime", str(capabilities.ptime_ms)))
        attrs.append(Attribute(direction))
        if capabilities.rtcp_mux:
            attrs.append(Attribute("rtcp-mux"))
        if content:
            attrs += [Attribute("content", "slides"), Attribute("label", OFFER_CONTENT_LABEL)]
        lines.append(MediaDescription(kind, port, proto, formats, bandwidths=bandwidths,
                                      attributes=attrs))
    offer = _new_session(capabilities, local_addr, session_id, lines)
    _apply_version(offer, previous)
    return offer


# --- processing an answer to our offer ----------------------------------------------


def process_answer(offer: SessionDescription | str | bytes,
                   answer: SessionDescription | str | bytes, capabilities: Capabilities,
                   profile: EndpointProfile = DEFAULT_PROFILE) -> NegotiationResult:
    """Read the peer's answer to our offer (UAC). Raises NegotiationError if it is unusable."""
    offer, answer = _coerce(offer), _coerce(answer)
    if len(answer.media) != len(offer.media):
        raise NegotiationError(f"answer has {len(answer.media)} m-lines, our offer had "
                               f"{len(offer.media)} (RFC 3264 requires the same number)")
    results = []
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media)):
        if theirs.media != ours.media:
            raise NegotiationError(f"m-line {index}: answer has {theirs.media!r} where we "
                                   f"offered {ours.media!r}")
        results.append(_answered_media(index, offer, ours, answer, theirs, capabilities, profile))
    return NegotiationResult(offer, answer, tuple(results), we_offered=True)


def _answered_media(index: int, offer: SessionDescription, ours: MediaDescription,
                    answer: SessionDescription, theirs: MediaDescription,
                    capabilities: Capabilities, profile: EndpointProfile) -> MediaResult:
    remote_direction = media_direction(answer, theirs)
    if ours.media == APPLICATION and ours.proto.upper() in BFCP_PROTOS:
        return _answered_bfcp(index, ours, answer, theirs, remote_direction)
    if ours.port == 0 or theirs.port == 0:
        return MediaResult(index, theirs.media, theirs.proto, False, ours.port, theirs.port,
                           REJECT_BY_PEER if ours.port else REJECT_DISABLED,
                           remote_direction=remote_direction)
    connection = answer.connection_for(theirs)
    if connection is None:
        raise NegotiationError(f"m-line {index}: answer has no connection address")
    our_formats = {o.pt: o for o in _offered_formats(ours)}
    unknown = [pt for pt in theirs.payload_types if pt not in ours.payload_types]
    if unknown:
        raise NegotiationError(f"m-line {index}: answer uses payload type {unknown[0]} that we "
                               "did not offer")
    answered = _offered_formats(theirs)
    codecs: list[ChosenCodec] = []
    telephone_event = None
    limits = None
    caps = _video_caps(capabilities, profile)
    for o in answered:
        mine = our_formats.get(o.pt)
        if mine is None:
            continue
        if mine.name != o.name:
            raise NegotiationError(f"m-line {index}: payload type {o.pt} is {o.name} in the "
                                   f"answer but {mine.name} in our offer")
        if o.name == TELEPHONE_EVENT:
            if telephone_event is None:
                telephone_event = ChosenCodec(o.pt, o.name, o.clock_rate, 1, o.clock_rate,
                                              mine.fmtp, o.fmtp)
            continue
        spec = CODECS[o.name]
        mode = plid = None
        if o.name == H264:
            mode = int(o.params.get("packetization-mode", "0"))
            try:
                parsed = ProfileLevelId.parse(o.params.get("profile-level-id"))
                level = parsed.level
                plid = str(parsed)
                if not codecs:
                    limits = h264mod.h264_limits(o.params, level, *caps)
            except H264ParameterError as exc:
                raise NegotiationError(f"m-line {index}: {exc}") from None
        elif not codecs and o.name == VP8:
            limits = vp8_limits(o.params, *caps)
        elif not codecs and o.name in (H263, H263_1998):
            limits = h263_limits(h263_formats(o.params), *caps)
        codecs.append(ChosenCodec(o.pt, o.name, o.clock_rate, o.channels if o.name == OPUS else 1,
                                  spec.real_sample_rate, mine.fmtp, o.fmtp,
                                  packetization_mode=mode, profile_level_id=plid))
    if not codecs:
        return MediaResult(index, theirs.media, theirs.proto, False, ours.port, theirs.port,
                           REJECT_NO_CODEC, remote_direction=remote_direction)
    our_direction = media_direction(offer, ours)
    direction = _intersect_direction(our_direction, _REVERSE[remote_direction])
    if connection.is_hold_address:
        direction = _intersect_direction(direction, "recvonly")
    fb = _rtcp_fb(theirs, codecs[0].payload_type) & capabilities.rtcp_fb
    rtcp_mux = ours.has("rtcp-mux") and theirs.has("rtcp-mux")
    as_kbps, tias = _remote_bandwidths(answer, theirs)
    cap_kbps = capabilities.video_max_kbps if theirs.media == VIDEO else capabilities.audio_max_kbps
    max_send = _min_opt(as_kbps, tias // 1000 if tias is not None else None, cap_kbps)
    if limits is not None and limits.max_bitrate_kbps is not None:
        max_send = _min_opt(max_send, limits.max_bitrate_kbps)
    is_audio = theirs.media == AUDIO
    return MediaResult(
        index=index, kind=theirs.media, proto=theirs.proto, accepted=True,
        local_port=ours.port, remote_port=theirs.port, remote_address=connection.host,
        remote_rtcp_port=theirs.port if rtcp_mux else _rtcp_port(theirs), rtcp_mux=rtcp_mux,
        codecs=tuple(codecs), telephone_event=telephone_event, direction=direction,
        remote_direction=remote_direction,
        on_hold=connection.is_hold_address or remote_direction in ("sendonly", "inactive"),
        bandwidth_as=as_kbps, bandwidth_tias=tias, max_send_kbps=max_send, rtcp_fb=fb,
        ssrcs=_ssrcs(theirs), content=theirs.first("content") or ours.first("content"),
        ptime=_int_attr(theirs, "ptime"), video_limits=limits, label=ours.first("label"),
        dtmf=(profile.dtmf if telephone_event is not None else "info") if is_audio else None,
        keyframe_methods=() if is_audio else _keyframe_methods(profile, fb),
        keyframe_min_interval=None if is_audio else profile.keyframe_min_interval,
    )


def _answered_bfcp(index: int, ours: MediaDescription, answer: SessionDescription, theirs: MediaDescription,
                   remote_direction: str) -> MediaResult:
    """The peer's answer to our BFCP line: accepted unless it refused it (port 0) or wants to be the
    floor control server too."""
    if theirs.port == 0 or ours.port == 0 or not floor_roles(theirs) & {"c-only", "c-s"}:
        return MediaResult(index, theirs.media, theirs.proto, False, ours.port, theirs.port, REJECT_BY_PEER,
                           remote_direction=remote_direction)
    connection = answer.connection_for(theirs)

    def number(name: str, default: int) -> int:
        value = (ours.first(name) or "").split()
        return int(value[0]) if value and value[0].isdigit() else default

    setup = None if ours.proto.upper() == UDP_BFCP else (
        "active" if (theirs.first("setup") or "").lower() == "passive" else "passive")
    line = BfcpLine(ours.proto, number("confid", 0), number("userid", 0), number("floorid", 1), setup,
                    " ".join(sorted(floor_roles(theirs))))
    return MediaResult(index, theirs.media, theirs.proto, True, ours.port, theirs.port,
                       remote_address=connection.host if connection else None, direction="sendrecv", bfcp=line)


def is_same_version(previous_remote: SessionDescription, remote: SessionDescription) -> bool:
    """True when a re-offer repeats the last SDP (same o= session and version): a session
    refresh, not a change (RFC 3264 section 8)."""
    a, b = previous_remote.origin, remote.origin
    return (a.username, a.session_id, a.version, a.address) == \
        (b.username, b.session_id, b.version, b.address)
