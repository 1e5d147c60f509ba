"""Writes the Q.931 byte vectors of tests/h323/vectors from the public capture (run once)."""

from __future__ import annotations

from pathlib import Path

from pcaplib import read_segments, tcp_streams

VECTORS = Path(__file__).parent / "vectors"


def main() -> None:
    streams = tcp_streams(read_segments(VECTORS / "ndpi-h323.pcap"))
    setup_tpkt = streams[("10.1.3.143", 32803, "10.1.6.18", 1720)].data
    setup = setup_tpkt[4:]
    (VECTORS / "q931_setup.bin").write_bytes(setup)
    (VECTORS / "q931_setup_truncated.bin").write_bytes(setup[:-10])
    (VECTORS / "q931_setup_invalid.bin").write_bytes(b"\x09" + setup[1:])  # discriminator 9


if __name__ == "__main__":
    main()
