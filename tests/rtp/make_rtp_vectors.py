"""Writes the binary vectors in tests/rtp/vectors/ by hand (struct), independently of the
serializers under test. Run: .venv/bin/python tests/rtp/make_rtp_vectors.py"""

from __future__ import annotations

import struct
from pathlib import Path

VECTORS = Path(__file__).parent / "vectors"


def rtp_vectors() -> dict[str, bytes]:
    v: dict[str, bytes] = {}
    # PCMU, seq 0x1234, ts 0xdeadbeef, ssrc 0x11223344, 160-byte payload
    basic = struct.pack("!BBHII", 0x80, 0, 0x1234, 0xDEADBEEF, 0x11223344) + bytes(range(160))
    v["rtp_basic"] = basic
    v["rtp_basic_truncated"] = basic[:11]
    v["rtp_basic_invalid"] = bytes([0x40]) + basic[1:]  # version 1
    # marker, PT 96, 2 CSRCs, one-byte extension (id 1 audio level, id 2 two bytes), padding 4
    ext = bytes([0x10, 0x80 | 42, 0x21, 0xAA, 0xBB, 0x00, 0x00, 0x00])  # 8 bytes = 2 words
    full = (
        struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0x80 | 96, 65535, 0xFFFFFFFF, 0xCAFEBABE)
        + struct.pack("!II", 0x01020304, 0x05060708)
        + struct.pack("!HH", 0xBEDE, 2)
        + ext
        + b"payload!"
        + b"\x00\x00\x00\x04"
    )
    v["rtp_csrc_ext_padding"] = full
    v["rtp_csrc_ext_padding_truncated"] = full[:24]  # inside the extension
    bad_pad = bytearray(full)
    bad_pad[-1] = 200
    v["rtp_csrc_ext_padding_invalid"] = bytes(bad_pad)
    # two-byte extension: id 200 with 3 bytes, id 5 with 0 bytes, then padding
    ext2 = bytes([200, 3, 1, 2, 3, 5, 0, 0])
    two = (
        struct.pack("!BBHII", 0x90, 111, 7, 960, 0x0BADF00D)
        + struct.pack("!HH", 0x1000, 2)
        + ext2
        + b"opus"
    )
    v["rtp_ext_two_byte"] = two
    bad_ext = bytearray(two)
    bad_ext[15] = 9  # extension length 9 words overruns the packet
    v["rtp_ext_two_byte_invalid"] = bytes(bad_ext)
    v["rtp_ext_two_byte_truncated"] = two[:14]
    return v


def rtcp_vectors() -> dict[str, bytes]:
    v: dict[str, bytes] = {}
    block = struct.pack(
        "!IIIIII", 0x11223344, (25 << 24) | 3, 0x00011234, 17, 0x89ABCDEF, 0x00020000
    )
    sr = struct.pack("!BBH", 0x81, 200, 12) + struct.pack(
        "!IIIIII", 0xCAFEBABE, 0xE1234567, 0x89ABCDEF, 160000, 1000, 160000
    ) + block
    cname = b"mcu@example"
    sdes_body = struct.pack("!I", 0xCAFEBABE) + bytes([1, len(cname)]) + cname
    sdes_body += b"\x00" * (4 - len(sdes_body) % 4)
    sdes = struct.pack("!BBH", 0x81, 202, len(sdes_body) // 4) + sdes_body
    v["rtcp_sr_sdes"] = sr + sdes
    v["rtcp_sr_sdes_truncated"] = (sr + sdes)[:30]
    v["rtcp_sr_sdes_invalid"] = bytes([0x41]) + (sr + sdes)[1:]
    rr = struct.pack("!BBH", 0x81, 201, 7) + struct.pack("!I", 0x55667788) + struct.pack(
        "!IIIIII", 0xCAFEBABE, (255 << 24) | 0xFFFFFF, 70000, 5, 0, 0
    )
    bye_reason = b"hangup"
    bye = struct.pack("!BBH", 0x81, 203, 3) + struct.pack("!I", 0x55667788)
    bye += bytes([len(bye_reason)]) + bye_reason + b"\x00"
    v["rtcp_rr_bye"] = rr + bye
    v["rtcp_rr_bye_truncated"] = (rr + bye)[:-4]
    nack = struct.pack("!BBH", 0x81, 205, 3) + struct.pack("!IIHH", 1, 2, 100, 0b101)
    v["rtcp_nack"] = nack
    v["rtcp_nack_truncated"] = nack[:10]
    pli = struct.pack("!BBH", 0x81, 206, 2) + struct.pack("!II", 1, 2)
    v["rtcp_pli"] = pli
    v["rtcp_pli_truncated"] = pli[:7]
    fir = struct.pack("!BBH", 0x84, 206, 4) + struct.pack("!IIIB3x", 1, 0, 2, 9)
    v["rtcp_fir"] = fir
    # TMMBR 512000 bit/s = mantissa 128000 exp 2 (smallest exp, 17-bit mantissa), overhead 40
    tmmbr = struct.pack("!BBH", 0x83, 205, 4) + struct.pack(
        "!IIII", 1, 0, 2, (2 << 26) | (128000 << 9) | 40
    )
    v["rtcp_tmmbr"] = tmmbr
    # REMB 1,000,000 bit/s = mantissa 250000 exp 2 (smallest exp with an 18-bit mantissa)
    remb = struct.pack("!BBH", 0x8F, 206, 5) + struct.pack("!II", 1, 0) + b"REMB" + struct.pack(
        "!II", (1 << 24) | (2 << 18) | 250000, 2
    )
    v["rtcp_remb"] = remb
    v["rtcp_remb_truncated"] = remb[:-4]  # header length overruns the datagram
    # padded last packet (RR with 4 padding bytes)
    rr_pad = struct.pack("!BBH", 0xA0, 201, 2) + struct.pack("!I", 9) + b"\x00\x00\x00\x04"
    v["rtcp_rr_padding"] = rr_pad
    rr_badpad = bytearray(rr_pad)
    rr_badpad[-1] = 12
    v["rtcp_rr_padding_invalid"] = bytes(rr_badpad)
    return v


def main() -> None:
    VECTORS.mkdir(exist_ok=True)
    for name, data in {**rtp_vectors(), **rtcp_vectors()}.items():
        (VECTORS / f"{name}.bin").write_bytes(data)


if __name__ == "__main__":
    main()
