"""Writes the RAS byte vectors of tests/h323/vectors from the public capture (run once):
frames 71 and 72 of ndpi-h323.pcap (a Tandberg endpoint's keep-alive RRQ and its RCF), frame 63
(an OpenH323 endpoint's ARQ) and frame 69 (its gatekeeper's DRQ); `_truncated` and `_invalid`
variants of the RRQ."""

from __future__ import annotations

from pathlib import Path

from pcaplib import read_segments

VECTORS = Path(__file__).parent / "vectors"
FRAMES = {71: "ras_rrq_tandberg.bin", 72: "ras_rcf_tandberg.bin", 63: "ras_arq_openh323.bin",
          69: "ras_drq_openh323.bin"}
INVALID_CHOICE = 0x7C  # RasMessage root choice index 31: no such message (24 in the root)


def main() -> None:
    payloads = {s.frame: s.payload for s in read_segments(VECTORS / "ndpi-h323.pcap")}
    for frame, name in FRAMES.items():
        (VECTORS / name).write_bytes(payloads[frame])
    rrq = payloads[71]
    (VECTORS / "ras_rrq_tandberg_truncated.bin").write_bytes(rrq[:40])
    (VECTORS / "ras_rrq_tandberg_invalid.bin").write_bytes(bytes([INVALID_CHOICE]) + rrq[1:])


if __name__ == "__main__":
    main()
