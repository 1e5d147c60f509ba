"""Named, seeded mutation strategies for the black-box fuzzer (tests/fuzz/fuzzer.py).

Every strategy is a plain function `(rng, data) -> data` of a seeded `random.Random`, so an
input is fully given by (seed, index): `random.Random(f"{seed}/{index}")` regenerates it.
Strategies come in tables (name -> function) per input kind: bytes (any protocol), SIP
messages, SDP bodies, RTP, RTCP and admin HTTP requests. Nothing here touches a socket.

Every output goes through `loopback_only()`: a mutation may invent any address, but an IPv4
or IPv6 literal that is a real, routable address is rewritten to loopback, so that the MCU
never sends a packet off this machine because of a fuzzed SDP, Contact or dial target.
"""

from __future__ import annotations

import ipaddress
import random
import re
import struct
from collections.abc import Callable

Mutator = Callable[[random.Random, bytes], bytes]
CRLF = b"\r\n"
HUGE = 70_000  # bytes: past the SIP message limit (65535) and the admin body limit (64 KiB)

# ----------------------------------------------------------------------------- safety

_IPV4 = re.compile(rb"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d])")
_IPV6 = re.compile(rb"(?<![\w:.])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w:])")
_SAFE_V4 = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("0.0.0.0/32"))


def _v4(match: re.Match[bytes]) -> bytes:
    parts = [int(p) for p in match.groups()]
    if any(p > 255 for p in parts):
        return match.group(0)  # not an address: keep it, the MCU must refuse it
    if any(ipaddress.ip_address(".".join(map(str, parts))) in net for net in _SAFE_V4):
        return match.group(0)
    return b"127.0.0.1"


def _v6(match: re.Match[bytes]) -> bytes:
    try:
        address = ipaddress.IPv6Address(match.group(1).decode())
    except ValueError:
        return match.group(0)
    if address.is_loopback or address.is_unspecified:
        return match.group(0)
    return b"::1"


def loopback_only(data: bytes) -> bytes:
    """Rewrite every routable IP literal to loopback (see the module docstring)."""
    return _IPV6.sub(_v6, _IPV4.sub(_v4, data))


# ----------------------------------------------------------------------------- bytes

SPECIAL_BYTES = (b"\x00", b"\xff", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b" ", b"\t", b":", b";",
                 b",", b"<", b">", b"%", b"%00", b"\"", b"\\", b"=", b"/", b"\xc3\x28", b"\xe2\x80\xae")


def byte_flip(rng: random.Random, data: bytes) -> bytes:
    """Replace 1-8 random bytes with random values."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def bit_flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def insert_special(rng: random.Random, data: bytes) -> bytes:
    """Insert a delimiter, NUL, CR/LF or broken UTF-8 somewhere."""
    pos = rng.randint(0, len(data))
    return data[:pos] + rng.choice(SPECIAL_BYTES) * rng.choice((1, 1, 2, 50)) + data[pos:]


def duplicate_span(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 64))
    return data[:end] + data[start:end] * rng.choice((1, 2, 100)) + data[end:]


def delete_span(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 32):]


def random_bytes(rng: random.Random, data: bytes) -> bytes:
    """Noise of the same order of size as the input."""
    return rng.randbytes(rng.randint(0, max(1, len(data) * 2)))


BYTE_STRATEGIES: dict[str, Mutator] = {
    "byte_flip": byte_flip, "bit_flip": bit_flip, "truncate": truncate,
    "insert_special": insert_special, "duplicate_span": duplicate_span, "delete_span": delete_span,
    "random_bytes": random_bytes,
}

# ----------------------------------------------------------------------------- SIP messages


def split_message(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(start line, header lines, body) of a SIP or HTTP message built as text."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(CRLF)
    return lines[0], lines[1:], body


def join_message(start: bytes, headers: list[bytes], body: bytes, fix_length: bool = True) -> bytes:
    """Reassemble; with `fix_length`, Content-Length says the body's real size."""
    if fix_length:
        headers = [h for h in headers if not h.lower().startswith(b"content-length:")]
        headers.append(b"Content-Length: %d" % len(body))
    return CRLF.join([start, *headers]) + CRLF + CRLF + body


def _header_mutator(fn: Callable[[random.Random, list[bytes]], list[bytes]]) -> Mutator:
    def mutate(rng: random.Random, data: bytes) -> bytes:
        start, headers, body = split_message(data)
        return join_message(start, fn(rng, list(headers)), body)
    mutate.__doc__ = fn.__doc__
    return mutate


@_header_mutator
def duplicate_header(rng: random.Random, headers: list[bytes]) -> list[bytes]:
    """Repeat one header (Via, CSeq, Call-ID, To...) 2-50 times."""
    if headers:
        h = rng.choice(headers)
        headers[rng.randrange(len(headers) + 1):0] = [h] * rng.choice((1, 2, 50))
    return headers


@_header_mutator
def remove_header(rng: random.Random, headers: list[bytes]) -> list[bytes]:
    for _ in range(rng.randint(1, 3)):
        if headers:
            headers.pop(rng.randrange(len(headers)))
    return headers


HUGE_VALUES = (b"x" * 5000, b"9" * 5000, b"4294967296", b"18446744073709551616", b"-1", b"",
               b"\xff\xfe" * 100, b"<" * 1000, b";" * 1000, b"a=" * 2000)


@_header_mutator
def huge_value(rng: random.Random, headers: list[bytes]) -> list[bytes]:
    """Replace or extend one header value with a huge, numeric-overflow or empty value."""
    if headers:
        i = rng.randrange(len(headers))
        name, _, value = headers[i].partition(b":")
        new = rng.choice(HUGE_VALUES)
        headers[i] = name + b": " + (value.strip() + new if rng.random() < 0.5 else new)
    return headers


@_header_mutator
def many_headers(rng: random.Random, headers: list[bytes]) -> list[bytes]:
    """Hundreds of extra headers (past the per-message header count limit)."""
    extra = [b"X-Fuzz-%d: %d" % (i, rng.randrange(1 << 30)) for i in range(rng.choice((150, 600, 3000)))]
    return headers + extra


@_header_mutator
def folded_header(rng: random.Random, headers: list[bytes]) -> list[bytes]:
    """RFC 3261 line folding, or a header without colon, or a compact-form duplicate."""
    if not headers:
        return headers
    i = rng.randrange(len(headers))
    name, _, value = headers[i].partition(b":")
    headers[i] = rng.choice((name + b":\r\n " + value.strip(), name + value, b" " + headers[i],
                             name + b" : " + value + b"\r\n\t;param", b":" + value))
    return headers


BAD_URIS = (b"sip:", b"sip:@", b"sip:4100@", b"sip:4100@127.0.0.1:99999", b"sip:4100@[::1",
            b"sip:4100@[::1]:5060", b"sip:4100@256.256.256.256", b"sip:%34%31%30%30@127.0.0.1",
            b"sip:4100@127.0.0.1;transport=sctp", b"sips:4100@127.0.0.1", b"tel:+4100", b"http://x/",
            b"sip:" + b"4" * 3000 + b"@127.0.0.1", b"sip:4100@localhost", b"sip:4100@mcu.invalid",
            b"sip:4100;maddr=127.0.0.2@127.0.0.1", b"sip:41\x0000@127.0.0.1", b"sip:4100@127.0.0.1:0",
            b"urn:service:sos", b"*", b"sip:4100@127.0.0.1?Route=%3Csip:127.0.0.1%3E", b"sip:\xe2\x82\xac@127.0.0.1")


def bad_request_uri(rng: random.Random, data: bytes) -> bytes:
    start, headers, body = split_message(data)
    parts = start.split(b" ")
    if len(parts) == 3:
        parts[1] = rng.choice(BAD_URIS)
    return join_message(b" ".join(parts), headers, body)


def bad_start_line(rng: random.Random, data: bytes) -> bytes:
    """Wrong version, lower-case or unknown method, extra spaces, missing parts."""
    start, headers, body = split_message(data)
    method, _, rest = start.partition(b" ")
    uri, _, version = rest.rpartition(b" ")
    start = rng.choice((
        method + b" " + uri + b" SIP/3.0", method.lower() + b" " + rest, b"FUZZ " + rest,
        method + b"  " + uri + b"  " + version, method + b" " + uri, method, b"",
        method + b" " + uri + b" SIP/2.0 extra", b"SIP/2.0 200 OK", method + b" " + uri + b" HTTP/1.1",
        method * 200 + b" " + rest))
    return join_message(start, headers, body)


def wrong_content_length(rng: random.Random, data: bytes) -> bytes:
    start, headers, body = split_message(data)
    headers = [h for h in headers if not h.lower().startswith(b"content-length:")]
    value = rng.choice((b"%d" % (len(body) + rng.randint(1, 500)), b"%d" % max(0, len(body) - rng.randint(1, 50)),
                        b"-1", b"abc", b"99999999999999999999", b"", b"0x10", b"%d" % len(body) + b", 0"))
    if rng.random() < 0.2:
        headers.append(b"Content-Length: 0")  # two that disagree
    headers.append(b"Content-Length: " + value)
    return join_message(start, headers, body, fix_length=False)


def bad_header_values(rng: random.Random, data: bytes) -> bytes:
    """Semantic nonsense in the headers the UA reads: Via, CSeq, From/To tags, Max-Forwards..."""
    start, headers, body = split_message(data)
    name, value = rng.choice((
        (b"Via", b"SIP/2.0/UDP 127.0.0.1:99999;branch=z9hG4bK1"), (b"Via", b"SIP/2.0/FOO"),
        (b"Via", b"SIP/2.0/UDP 127.0.0.1;branch="), (b"Via", b"SIP/2.0/UDP [::1;rport"),
        (b"CSeq", b"4294967296 INVITE"), (b"CSeq", b"1 BYE"), (b"CSeq", b"x"), (b"CSeq", b"-5 OPTIONS"),
        (b"From", b"<sip:a@127.0.0.1"), (b"From", b"\"unterminated <sip:a@127.0.0.1>;tag=1"),
        (b"To", b"<sip:4100@127.0.0.1>;tag=;tag=2"), (b"Max-Forwards", b"0"), (b"Max-Forwards", b"-1"),
        (b"Max-Forwards", b"99999999999"), (b"Contact", b"*"), (b"Contact", b"<sip:x@[::1]:0>"),
        (b"Contact", b"<sip:x@localhost;transport=tcp>"), (b"Expires", b"-1"),
        (b"Session-Expires", b"1"), (b"Session-Expires", b"999999999999;refresher=xx"), (b"Min-SE", b"x"),
        (b"Require", b"100rel, foo"), (b"Supported", b"timer" * 1000), (b"Content-Type", b"application/sdp;;;"),
        (b"Content-Type", b"multipart/mixed;boundary=x"), (b"Content-Type", b""), (b"Content-Encoding", b"gzip"),
        (b"Record-Route", b"<sip:127.0.0.1:1;lr>"), (b"Route", b"<sip:127.0.0.1;lr>"),
        (b"Call-ID", b""), (b"Call-ID", b"a b c"), (b"Authorization", b"Digest realm=\"x"),
    ))
    lower = name.lower() + b":"
    headers = [h for h in headers if not h.lower().startswith(lower)] if rng.random() < 0.7 else headers
    headers.insert(rng.randint(0, len(headers)), name + b": " + value)
    return join_message(start, headers, body)


def body_mutation(rng: random.Random, data: bytes) -> bytes:
    """Mutate the body with an SDP strategy and fix Content-Length (reach the SDP code)."""
    start, headers, body = split_message(data)
    name = rng.choice(sorted(SDP_STRATEGIES))
    return join_message(start, headers, SDP_STRATEGIES[name](rng, body))


SIP_STRATEGIES: dict[str, Mutator] = {
    "duplicate_header": duplicate_header, "remove_header": remove_header, "huge_value": huge_value,
    "many_headers": many_headers, "folded_header": folded_header, "bad_request_uri": bad_request_uri,
    "bad_start_line": bad_start_line, "wrong_content_length": wrong_content_length,
    "bad_header_values": bad_header_values, "sdp": body_mutation,
}

# ----------------------------------------------------------------------------- SDP bodies


def _sdp_lines(body: bytes) -> list[bytes]:
    return [line for line in body.split(CRLF) if line]


def _sdp_join(lines: list[bytes]) -> bytes:
    return CRLF.join(lines) + CRLF


def _replace_lines(rng: random.Random, body: bytes, prefix: bytes, choices: tuple[bytes, ...]) -> bytes:
    """Replace one (or every, sometimes) line starting with `prefix` by a choice."""
    lines = _sdp_lines(body)
    hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    if not hits:
        return body
    targets = hits if rng.random() < 0.3 else [rng.choice(hits)]
    for i in targets:
        lines[i] = prefix + rng.choice(choices)
    return _sdp_join(lines)


BAD_CONNECTIONS = (
    b"IN IP4 localhost", b"IN IP4 mcu.invalid", b"IN IP4 ::1", b"IN IP4 [::1]", b"IN IP6 ::1",
    b"IN IP6 127.0.0.1", b"IN IP4 999.1.1.1", b"IN IP4 127.0.0.1/127", b"IN IP4 127.0.0.1/127/3",
    b"IN IP4 ", b"IN IP4 0.0.0.0", b"IN IP7 127.0.0.1", b"IN IP4 127.0.0.1 extra", b"IN IP4 127.1",
    b"IN IP4 0x7f000001", b"IN IP4 2130706433", b"IN IP4 -", b"IN IP4 " + b"a" * 300 + b".invalid",
    b"IN IP4 ::", b"IN IP6 fe80::1%eth0", b"IN IP6 [::1]:5004", b"XX IP4 127.0.0.1", b"IN IP4 127.0.0.1:5004",
)


def sdp_bad_connection(rng: random.Random, body: bytes) -> bytes:
    """c= with host names, IPv6 literals in IN IP4, bad or multicast addresses."""
    return _replace_lines(rng, body, b"c=", BAD_CONNECTIONS)


def sdp_bad_port(rng: random.Random, body: bytes) -> bytes:
    """m= with port 0, 65535, 65536, a port count, junk or 5000 digits."""
    lines = _sdp_lines(body)
    hits = [i for i, line in enumerate(lines) if line.startswith(b"m=")]
    if not hits:
        return body
    i = rng.choice(hits)
    parts = lines[i].split(b" ")
    parts += [b""] * (2 - len(parts))  # an "m=" line with fewer fields than a port (earlier mutations)
    parts[1] = rng.choice((b"0", b"1", b"65535", b"65536", b"99999999", b"-1", b"5004/2", b"5004/0",
                           b"abc", b"9" * 5000, b"\xc2\xb2", b"\xd9\xa1\xd9\xa2", b"5004/", b""))
    lines[i] = b" ".join(parts)
    return _sdp_join(lines)


def sdp_missing_rtpmap(rng: random.Random, body: bytes) -> bytes:
    """Drop a=rtpmap (and sometimes a=fmtp) lines: dynamic payload types without a codec name."""
    drop_fmtp = rng.random() < 0.5
    keep_one = rng.random() < 0.5
    lines = _sdp_lines(body)
    out = []
    for line in lines:
        if line.startswith(b"a=rtpmap:") and not (keep_one and rng.random() < 0.5):
            continue
        if drop_fmtp and line.startswith(b"a=fmtp:"):
            continue
        out.append(line)
    return _sdp_join(out)


def sdp_many_attributes(rng: random.Random, body: bytes) -> bytes:
    """Hundreds to thousands of a= lines (past the a= count limit), in a media section."""
    count = rng.choice((300, 1000, 5000))
    kind = rng.choice((b"a=x-fuzz:%d", b"a=rtpmap:%d PCMU/8000", b"a=fmtp:96 x=%d", b"a=ssrc:%d cname:x",
                       b"a=rtcp-fb:* nack %d", b"a=candidate:%d 1 UDP 1 127.0.0.1 9 typ host"))
    extra = [kind % (i % 1000) for i in range(count)]
    lines = _sdp_lines(body)
    at = rng.randint(0, len(lines))
    return _sdp_join(lines[:at] + extra + lines[at:])


def sdp_many_media(rng: random.Random, body: bytes) -> bytes:
    """Many m= sections (past the m= count limit), or duplicated audio/video sections."""
    lines = _sdp_lines(body)
    m = [i for i, line in enumerate(lines) if line.startswith(b"m=")]
    if not m:
        return body
    section = lines[m[0]:m[1]] if len(m) > 1 else lines[m[0]:]
    return _sdp_join(lines + section * rng.choice((1, 2, 20, 100)))


def sdp_bad_rtpmap(rng: random.Random, body: bytes) -> bytes:
    return _replace_lines(rng, body, b"a=rtpmap:", (
        b"0 PCMU/0", b"0 PCMU/99999999999999", b"0 PCMU/x", b"0 PCMU/8000/0", b"0 PCMU/8000/999",
        b"96 opus/48000/2/1", b"300 PCMU/8000", b"128 PCMU/8000", b"-1 PCMU/8000", b"96", b"96 /8000",
        b"96 H264/90000", b"97 telephone-event/0", b"96 opus/0/2", b"\xc2\xb2 PCMU/8000", b"96 G722/16000",
        b"96 " + b"X" * 2000 + b"/8000", b"0 PCMA/8000", b"96 VP8/90000/2", b"96 H264/1",
    ))


def sdp_bad_fmtp(rng: random.Random, body: bytes) -> bytes:
    return _replace_lines(rng, body, b"a=fmtp:", (
        b"97 profile-level-id=zz", b"97 profile-level-id=", b"97 profile-level-id=42e0ff1f1f",
        b"97 packetization-mode=7", b"97 max-fs=-1", b"97 max-fs=99999999999999999999", b"97 max-mbps=0",
        b"97 max-fs=0;max-mbps=0;max-br=0", b"97 sprop-parameter-sets=!!!,@@@", b"97 sprop-parameter-sets=Z0IAH5WoFAFuQA==,",
        b"97 level-asymmetry-allowed=1;profile-level-id=640034", b"101 0-999", b"101 15-0", b"101 ,,,",
        b"96 maxplaybackrate=0;stereo=2", b"96 ptime=-20", b"97 " + b";" * 3000, b"97 x=" + b"9" * 5000,
        b"98 max-fr=0;max-fs=1", b"97 =;=;=", b"97",
    ))


def sdp_numbers(rng: random.Random, body: bytes) -> bytes:
    """Overflowing or non-ASCII numbers in o=, t=, b=, a=ptime, a=rtcp, a=framerate."""
    lines = _sdp_lines(body)
    choices = (
        b"o=- 99999999999999999999999 1 IN IP4 127.0.0.1", b"o=- " + b"9" * 5000 + b" 1 IN IP4 127.0.0.1",
        b"o=- \xd9\xa1 \xd9\xa2 IN IP4 127.0.0.1", b"t=" + b"9" * 5000 + b" 0", b"t=\xc2\xb2 0", b"b=AS:99999999999999",
        b"b=AS:" + b"9" * 5000, b"b=TIAS:\xc2\xb2", b"b=AS:-1", b"b=:", b"a=ptime:0", b"a=ptime:-20",
        b"a=ptime:99999999999", b"a=maxptime:0", b"a=rtcp:99999", b"a=rtcp:0", b"a=rtcp:abc IN IP4 x",
        b"a=rtcp:5005 IN IP4 localhost", b"a=framerate:0", b"a=framerate:nan", b"a=framerate:inf",
        b"a=framerate:1e309", b"a=imageattr:97 send [x=0,y=0] recv [x=99999,y=99999]", b"a=mid:",
        b"a=rtcp-fb:97 ccm fir", b"a=rtcp-fb:97", b"a=extmap:0 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        b"a=extmap:99999 x", b"a=extmap:1/sendx urn:x", b"a=ssrc:99999999999 cname:x", b"a=ssrc:-1",
    )
    at = rng.randint(2, max(2, len(lines)))
    line = rng.choice(choices)
    if line.startswith((b"o=", b"t=")):
        prefix = line[:2]
        lines = [line if existing.startswith(prefix) else existing for existing in lines]
    else:
        lines.insert(at, line)
    return _sdp_join(lines)


def sdp_proto(rng: random.Random, body: bytes) -> bytes:
    """Transport protocols we do not speak, media we do not know, formats that are not numbers."""
    lines = _sdp_lines(body)
    hits = [i for i, line in enumerate(lines) if line.startswith(b"m=")]
    if not hits:
        return body
    i = rng.choice(hits)
    parts = lines[i].split(b" ")
    parts += [b""] * (3 - len(parts))  # an "m=" line cut short by an earlier mutation
    which = rng.randrange(3)
    if which == 0:
        parts[2] = rng.choice((b"UDP/TLS/RTP/SAVPF", b"RTP/AVP/TCP", b"TCP/BFCP", b"UDP/BFCP", b"RTP/SAVP", b"RTP/SAVPF",
                               b"udp", b"RTP/AVPF", b"TCP/TLS/BFCP", b"x" * 1000))
    elif which == 1:
        parts[0] = rng.choice((b"m=application", b"m=image", b"m=text", b"m=message", b"m=", b"m=AUDIO", b"m=video"))
    else:
        parts[3:] = [rng.choice((b"*", b"x", b"-1", b"128", b"300", b"99999999999999999999", b"\xc2\xb2", b""))
                     for _ in range(rng.randint(1, 4))]
    lines[i] = b" ".join(parts)
    return _sdp_join(lines)


def sdp_crypto(rng: random.Random, body: bytes) -> bytes:
    """RTP/SAVP with broken SDES keys (RFC 4568)."""
    lines = [line.replace(b"RTP/AVP ", b"RTP/SAVP ") for line in _sdp_lines(body)]
    key = rng.choice((
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:", b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!!",
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", b"a=crypto:1 AES_CM_128_HMAC_SHA1_80",
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + b"A" * 40 + b"|2^99999|1:1",
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + b"A" * 40 + b"|0|0:0",
        b"a=crypto:99999999999 AES_CM_128_HMAC_SHA1_32 inline:" + b"B" * 40,
        b"a=crypto:1 NULL_CIPHER inline:" + b"A" * 40, b"a=crypto:x", b"a=crypto:",
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + b"A" * 40 + b";inline:" + b"B" * 40,
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + b"A" * 40 + b" KDR=99 UNENCRYPTED_SRTP",
    ))
    out = []
    for line in lines:
        out.append(line)
        if line.startswith(b"m="):
            out.append(key)
    return _sdp_join(out)


def sdp_directions(rng: random.Random, body: bytes) -> bytes:
    """Conflicting or repeated direction attributes, hold addresses, a=inactive everywhere."""
    lines = [line for line in _sdp_lines(body) if line not in (b"a=sendrecv", b"a=sendonly", b"a=recvonly", b"a=inactive")]
    extra = rng.sample((b"a=sendrecv", b"a=sendonly", b"a=recvonly", b"a=inactive", b"a=sendonly"), rng.randint(1, 4))
    out = []
    for line in lines:
        out.append(line)
        if line.startswith(b"m="):
            out.extend(extra)
    return _sdp_join(out)


def sdp_structure(rng: random.Random, body: bytes) -> bytes:
    """Missing, repeated or misplaced lines: no v=, no o=, v= last, m= first, LF or CR only."""
    lines = _sdp_lines(body)
    which = rng.randrange(7)
    if which == 0 and lines:
        lines.pop(rng.randrange(len(lines)))
    elif which == 1:
        lines = [line for line in lines if not line.startswith(b"m=")] + [line for line in lines if line.startswith(b"m=")]
    elif which == 2:
        lines.insert(rng.randint(0, len(lines)), rng.choice((b"v=0", b"o=- 1 1 IN IP4 127.0.0.1", b"s=", b"t=0 0",
                                                             b"r=7d 1h 0", b"z=0 -1h", b"k=clear:x", b"x=1", b"=", b"a",
                                                             b"1=1", b"\xff=\xff", b"v=1")))
    elif which == 3:
        return b"\n".join(lines) + b"\n"
    elif which == 4:
        return b"\r".join(lines) + b"\r"
    elif which == 5:
        rng.shuffle(lines)
    else:
        return b"\xef\xbb\xbf" + _sdp_join(lines)  # a UTF-8 byte order mark
    return _sdp_join(lines)


def sdp_bytes(rng: random.Random, body: bytes) -> bytes:
    name = rng.choice(sorted(BYTE_STRATEGIES))
    return BYTE_STRATEGIES[name](rng, body)


SDP_STRATEGIES: dict[str, Mutator] = {
    "bad_connection": sdp_bad_connection, "bad_port": sdp_bad_port, "missing_rtpmap": sdp_missing_rtpmap,
    "many_attributes": sdp_many_attributes, "many_media": sdp_many_media, "bad_rtpmap": sdp_bad_rtpmap,
    "bad_fmtp": sdp_bad_fmtp, "numbers": sdp_numbers, "proto": sdp_proto, "crypto": sdp_crypto,
    "directions": sdp_directions, "structure": sdp_structure, "bytes": sdp_bytes,
}

# ----------------------------------------------------------------------------- RTP

RTP_HEADER = struct.Struct("!BBHII")


def rtp_header_fields(rng: random.Random, data: bytes) -> bytes:
    """Version, CSRC count, extension and padding bits that lie about the packet's layout."""
    if len(data) < 12:
        return data
    b0, b1, seq, ts, ssrc = RTP_HEADER.unpack_from(data)
    which = rng.randrange(5)
    if which == 0:
        b0 = (b0 & 0x3F) | rng.choice((0, 1, 3)) << 6  # version
    elif which == 1:
        b0 = (b0 & 0xF0) | rng.randint(1, 15)  # CSRCs that are not there
    elif which == 2:
        b0 |= 0x10  # an extension header that is not there
    elif which == 3:
        b0 |= 0x20  # padding: the last byte says how much
        data = data[:-1] + bytes((rng.choice((0, 1, 255, len(data), len(data) - 11)) & 0xFF,))
    else:
        b1 = (b1 & 0x80) | rng.choice((72, 73, 76, 77, 127, 0, 8, 9, 13, 96, 101, 111, 126))  # RTCP-like PTs
    return RTP_HEADER.pack(b0, b1, seq, ts, ssrc) + data[12:]


def rtp_numbering(rng: random.Random, data: bytes) -> bytes:
    """Sequence and timestamp jumps, wraps, repeats; SSRC changes (a new source mid-call)."""
    if len(data) < 12:
        return data
    b0, b1, seq, ts, ssrc = RTP_HEADER.unpack_from(data)
    which = rng.randrange(4)
    if which == 0:
        seq = (seq + rng.choice((-1, 0, 1000, 32768, 32767, -32768, 65535))) & 0xFFFF
    elif which == 1:
        ts = (ts + rng.choice((0, -160, 1 << 31, (1 << 31) - 1, 90000 * 3600, -(1 << 31)))) & 0xFFFFFFFF
    elif which == 2:
        ssrc = rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32)))
    else:
        b1 ^= 0x80  # marker
    return RTP_HEADER.pack(b0, b1, seq, ts, ssrc) + data[12:]


def rtp_extension(rng: random.Random, data: bytes) -> bytes:
    """RFC 8285 header extensions: wrong length words, overrunning or empty elements, id 15."""
    if len(data) < 12:
        return data
    b0, b1, seq, ts, ssrc = RTP_HEADER.unpack_from(data)
    profile = rng.choice((0xBEDE, 0x1000, 0x100F, 0x0000, 0xFFFF))
    body = rng.choice((b"\x10\xff\x00\x00", b"\xf0\x00\x00\x00", b"\x1f" + b"\x00" * 3, b"\x01\xff\x00\x00",
                       b"\x00" * 4, rng.randbytes(8), b"\x10\x80\x00\x00", b""))
    words = rng.choice((len(body) // 4, 0, 1, 255, 0xFFFF))
    cc = b0 & 0x0F
    csrc = data[12:12 + 4 * cc]
    payload = data[12 + 4 * cc:]
    return RTP_HEADER.pack(b0 | 0x10, b1, seq, ts, ssrc) + csrc + struct.pack("!HH", profile, words) + body + payload


def rtp_payload(rng: random.Random, data: bytes) -> bytes:
    """Empty, one-byte, huge or random payloads behind a valid header."""
    if len(data) < 12:
        return data
    return data[:12] + rng.choice((b"", b"\x00", rng.randbytes(rng.randint(1, 40)), rng.randbytes(1400),
                                   rng.randbytes(rng.choice((8000, 65000))), data[12:] * 10))


def h264_payload(rng: random.Random, data: bytes) -> bytes:
    """RFC 6184: FU-A without start or end, STAP-A with overrunning sizes, reserved NAL types."""
    if len(data) < 12:
        return data
    payload = rng.choice((
        b"\x7c\x85" + rng.randbytes(100), b"\x7c\x45" + rng.randbytes(100), b"\x7c\xc5" + rng.randbytes(50),
        b"\x7c\x05", b"\x7c", b"\x78\xff\xff\x67", b"\x78\x00\x05\x67\x42", b"\x78\x00\x00\x00\x00",
        b"\x18\x00\x02\x67\x42\x00\x02\x68", b"\x00" + rng.randbytes(20), b"\x1f" + rng.randbytes(20),
        b"\x1d\x80" + rng.randbytes(30), b"\x19" + rng.randbytes(30), b"\x67\x42\x00\x1f" + rng.randbytes(10),
        b"\x68\xce\x3c\x80", b"\x65" + rng.randbytes(600), b"\x67" + b"\xff" * 30, b"\x7c\x87" + b"\x00" * 100,
        b"\x7c\x81" + rng.randbytes(1000),
    ))
    return data[:12] + payload


def dtmf_payload(rng: random.Random, data: bytes) -> bytes:
    """RFC 4733 telephone-event: short, unknown events, zero or end-only durations."""
    if len(data) < 12:
        return data
    b0, b1, seq, ts, ssrc = RTP_HEADER.unpack_from(data)
    b1 = (b1 & 0x80) | 101
    event = rng.choice((0, 11, 15, 16, 255))
    flags = rng.choice((0x00, 0x80, 0x3F, 0xFF))
    duration = rng.choice((0, 1, 160, 0xFFFF))
    payload = rng.choice((struct.pack("!BBH", event, flags, duration), b"\x01", b"",
                          struct.pack("!BBH", event, flags, duration) * 3))
    return RTP_HEADER.pack(b0, b1, seq, ts, ssrc) + payload


RTP_STRATEGIES: dict[str, Mutator] = {
    "header_fields": rtp_header_fields, "numbering": rtp_numbering, "extension": rtp_extension,
    "payload": rtp_payload, "h264": h264_payload, "dtmf": dtmf_payload, **BYTE_STRATEGIES,
}

# ----------------------------------------------------------------------------- RTCP


def rtcp_length(rng: random.Random, data: bytes) -> bytes:
    """Length words that overrun, undershoot or are zero; counts that do not fit the body."""
    if len(data) < 4:
        return data
    b0, pt, words = struct.unpack_from("!BBH", data)
    if rng.random() < 0.5:
        words = rng.choice((0, 1, (words + 1) & 0xFFFF, max(0, words - 1), 0xFFFF))
    else:
        b0 = (b0 & 0xE0) | rng.randint(0, 31)
    return struct.pack("!BBH", b0, pt, words) + data[4:]


def rtcp_padding(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 4:
        return data
    pad = rng.choice((0, 1, 3, 4, 255))
    return bytes((data[0] | 0x20,)) + data[1:-1] + bytes((pad,))


def rtcp_type(rng: random.Random, data: bytes) -> bytes:
    """Unknown packet types, feedback formats (FMT) we do not interpret, APP packets."""
    if len(data) < 4:
        return data
    pt = rng.choice((192, 195, 199, 204, 205, 206, 207, 208, 209, 223, 0, 255))
    fmt = rng.randint(0, 31)
    return bytes(((data[0] & 0xE0) | fmt, pt)) + data[2:]


def rtcp_feedback(rng: random.Random, data: bytes) -> bytes:
    """Feedback with odd contents: NACK of thousands of packets, TMMBR/REMB with huge exponents,
    FIR for unknown sources, PLI for SSRC 0, a REMB with more SSRCs than it carries."""
    sender = rng.getrandbits(32)
    media = rng.choice((0, 0xFFFFFFFF, sender))
    kind = rng.randrange(6)
    if kind == 0:
        fci = b"".join(struct.pack("!HH", rng.randrange(65536), 0xFFFF) for _ in range(rng.choice((1, 64, 300))))
        return _fb(1, 205, sender, media, fci)
    if kind == 1:
        word = rng.choice((63 << 26 | 0x1FFFF << 9, 0, 0xFFFFFFFF, 40 << 26 | 1 << 9))
        return _fb(rng.choice((3, 4)), 205, sender, 0, struct.pack("!II", media, word))
    if kind == 2:
        word = (rng.choice((0, 1, 255)) << 24) | (rng.choice((0, 63)) << 18) | 0x3FFFF
        return _fb(15, 206, sender, 0, b"REMB" + struct.pack("!I", word))
    if kind == 3:
        return _fb(4, 206, sender, 0, struct.pack("!IB3x", media, rng.randrange(256)) * rng.choice((1, 50)))
    if kind == 4:
        return _fb(1, 206, sender, media, b"")
    return _fb(rng.randint(0, 31), rng.choice((205, 206)), sender, media, rng.randbytes(rng.choice((0, 3, 8))))


def _fb(fmt: int, pt: int, sender: int, media: int, fci: bytes) -> bytes:
    body = struct.pack("!II", sender, media) + fci
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!BBH", 0x80 | fmt, pt, len(body) // 4) + body


def rtcp_sdes_bye(rng: random.Random, data: bytes) -> bytes:
    """SDES items that overrun or are not terminated; BYE with a reason longer than the packet."""
    if rng.random() < 0.5:
        body = struct.pack("!I", rng.getrandbits(32)) + bytes((1, rng.choice((0, 10, 255)))) + b"x" * rng.choice((0, 5, 10))
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("!BBH", 0x80 | rng.choice((1, 2, 31)), 202, len(body) // 4) + body
    body = struct.pack("!I", rng.getrandbits(32)) + bytes((rng.choice((10, 255)),)) + b"bye"
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!BBH", 0x80 | rng.choice((0, 1, 31)), 203, len(body) // 4) + body


def rtcp_report_blocks(rng: random.Random, data: bytes) -> bytes:
    """SR/RR with report blocks about our own SSRCs with absurd loss, jitter, LSR and DLSR."""
    ssrc = rng.getrandbits(32)
    block = struct.pack("!IIIIII", rng.choice((0, ssrc, rng.getrandbits(32))), rng.choice((0xFFFFFFFF, 0x00800000, 0)),
                        rng.getrandbits(32), 0xFFFFFFFF, rng.getrandbits(32), rng.choice((0, 0xFFFFFFFF)))
    count = rng.choice((1, 2, 31))
    if rng.random() < 0.5:
        body = struct.pack("!I", ssrc) + block * count
        return struct.pack("!BBH", 0x80 | count, 201, len(body) // 4) + body
    body = struct.pack("!IIIIII", ssrc, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF, 0xFFFFFFFF) + block * count
    return struct.pack("!BBH", 0x80 | count, 200, len(body) // 4) + body


RTCP_STRATEGIES: dict[str, Mutator] = {
    "length": rtcp_length, "padding": rtcp_padding, "type": rtcp_type, "feedback": rtcp_feedback,
    "sdes_bye": rtcp_sdes_bye, "report_blocks": rtcp_report_blocks, **BYTE_STRATEGIES,
}

# ----------------------------------------------------------------------------- admin HTTP


def http_method(rng: random.Random, data: bytes) -> bytes:
    start, headers, body = split_message(data)
    _, _, rest = start.partition(b" ")
    method = rng.choice((b"DELETE", b"PUT", b"PATCH", b"HEAD", b"OPTIONS", b"TRACE", b"CONNECT", b"get",
                         b"POST", b"GET", b"FUZZ", b"G\x00ET", b"P" * 5000, b""))
    return join_message(method + b" " + rest, headers, body)


BAD_PATHS = (b"/", b"//rooms", b"/rooms/", b"/rooms/4100/", b"/rooms/../rooms", b"/rooms/%00", b"/rooms/%ZZ/members",
             b"/rooms/4100/members/x/remove", b"/rooms/4100/members/-1/remove", b"/rooms/4100/members/99999999999999999999999/remove",
             b"/rooms/4100/members/" + b"9" * 5000 + b"/remove", b"/rooms/" + b"a" * 10000, b"/rooms/\xc3\xa9",
             b"/rooms/%C3%A9/layout", b"/rooms/4100/members/1/snapshot?x=1", b"/rooms/4100/members/%31/snapshot",
             b"/rooms/nope/members/1/snapshot", b"/openapi.json/x", b"*", b"http://127.0.0.1/rooms",
             b"/rooms?%", b"/rooms#x", b"rooms", b"/rooms/4100/members/\xd9\xa1/remove", b"/rooms/4100/members/1e3/remove")


def http_path(rng: random.Random, data: bytes) -> bytes:
    start, headers, body = split_message(data)
    parts = start.split(b" ")
    if len(parts) == 3:
        parts[1] = rng.choice(BAD_PATHS)
    return join_message(b" ".join(parts), headers, body)


def http_headers(rng: random.Random, data: bytes) -> bytes:
    """Wrong or missing token, duplicated or huge headers, no colon, chunked, odd content types."""
    start, headers, body = split_message(data)
    which = rng.randrange(8)
    if which == 0:
        headers = [h for h in headers if not h.lower().startswith(b"authorization:")]
    elif which == 1:
        headers = [h for h in headers if not h.lower().startswith(b"authorization:")]
        headers.append(b"Authorization: " + rng.choice((b"Bearer wrong", b"Bearer", b"Basic eA==", b"Bearer \xc3\xa9" * 10,
                                                         b"bearer " + b"x" * 20000, b"", b"Bearer  ")))
    elif which == 2:
        headers.append(b"X-Big: " + b"x" * rng.choice((1000, 17000, 70000)))
    elif which == 3:
        headers.append(rng.choice((b"no colon here", b": empty name", b"\x00: x", b" leading: space")))
    elif which == 4:
        headers.append(b"Transfer-Encoding: chunked")
    elif which == 5:
        headers = [h for h in headers if not h.lower().startswith(b"content-type:")]
        headers.append(b"Content-Type: " + rng.choice((b"text/plain", b"application/json; charset=latin-1", b"",
                                                       b"multipart/form-data", b"application/x-www-form-urlencoded")))
    elif which == 6:
        headers.append(b"X-Operator: " + rng.choice((b"\xc3\xa9" * 100, b"\x00", b"x" * 5000, b"\r")))
    else:
        headers = headers * rng.choice((2, 200))
    return join_message(start, headers, body)


def http_body(rng: random.Random, data: bytes) -> bytes:
    """Bad JSON: truncated, not an object, deep nesting, invalid UTF-8, wrong types, huge."""
    start, headers, body = split_message(data)
    body = rng.choice((
        body[: max(0, len(body) - 1)], b"[]", b"null", b"1", b"\"x\"", b"{", b"{\"layout\":}", b"\xff\xfe{}",
        b"[" * 5000 + b"]" * 5000, b"{\"a\":" * 5000 + b"1" + b"}" * 5000, b"{\"layout\": 5}", b"{\"layout\": null}",
        b"{\"layout\": [\"speaker\"]}", b"{\"layout\": \"" + b"x" * 60000 + b"\"}", b"{\"mode\": {\"x\": 1}}",
        b"{\"member\": 1e309}", b"{\"member\": -1}", b"{\"member\": " + b"9" * 5000 + b"}", b"{\"target\": 1}",
        b"{\"pin\": \"\\ud800\"}", b"{\"x\": NaN}", b"{\"layout\": \"speaker\", \"layout\": \"grid\"}",
        b"{\"" + b"k" * 100 + b"\": 1}" * 1, b" " * 65000 + b"{}", b"{}" + b"\x00",
    ))
    return join_message(start, headers, body)


def http_content_length(rng: random.Random, data: bytes) -> bytes:
    """Content-Length that is missing, negative, not a number, too large or shorter than the body."""
    start, headers, body = split_message(data)
    headers = [h for h in headers if not h.lower().startswith(b"content-length:")]
    value = rng.choice((b"-1", b"abc", b"10000000", b"65537", b"%d" % max(0, len(body) - 3), b"", b"1e3", b"0"))
    return join_message(start, headers + [b"Content-Length: " + value], body, fix_length=False)


def http_request_line(rng: random.Random, data: bytes) -> bytes:
    start, headers, body = split_message(data)
    method, path, version = (start.split(b" ") + [b"", b""])[:3]
    start = rng.choice((method + b" " + path + b" HTTP/2.0", method + b" " + path, method + b"  " + path + b" " + version,
                        method + b" " + path + b" HTTP/1.1 x", b"", path, method + b" " + path + b" SIP/2.0",
                        method + b"\t" + path + b"\t" + version))
    return join_message(start, headers, body)


HTTP_STRATEGIES: dict[str, Mutator] = {
    "method": http_method, "path": http_path, "headers": http_headers, "body": http_body,
    "content_length": http_content_length, "request_line": http_request_line, **BYTE_STRATEGIES,
}


def pick(rng: random.Random, table: dict[str, Mutator]) -> tuple[str, Mutator]:
    """A strategy of `table`, by name in sorted order (stable for a given seed)."""
    name = rng.choice(sorted(table))
    return name, table[name]


def mutate(rng: random.Random, table: dict[str, Mutator], data: bytes, max_stack: int = 2) -> tuple[str, bytes]:
    """Apply 1..max_stack strategies of `table` in turn; returns ('a+b', output made loopback-only)."""
    names = []
    for _ in range(rng.randint(1, max_stack)):
        name, fn = pick(rng, table)
        names.append(name)
        data = fn(rng, data)
    return "+".join(names), loopback_only(data)
