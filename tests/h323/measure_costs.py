"""Measures the encode/decode cost of an H.225.0 Setup with fast start (12 OpenLogicalChannel
proposals) and a tunnelled TerminalCapabilitySet, as the MCU meets it. Not a test: run
`.venv/bin/python tests/h323/measure_costs.py`."""

from __future__ import annotations

import time

from mcu.h323 import h225, h245, per
from mcu.h323.call import _proposals
from mcu.h323.capabilities import CapabilitySpec
from mcu.h323.events import MediaPorts
from mcu.h323.tpkt import encode_tpkt

PORTS = {"audio": MediaPorts("10.0.0.2", 30000, 30001),
         "video": MediaPorts("10.0.0.2", 30002, 30003)}


def _setup() -> bytes:
    spec = CapabilitySpec()
    setup = h225.Setup(
        conference_id=bytes(16), call_id=bytes(range(16)),
        source_info=h225.EndpointInfo(h225.VendorInfo("Room", "1")),
        source_aliases=[h225.Alias("h323-ID", "room12")],
        destination_aliases=[h225.Alias("dialledDigits", "4100")],
        fast_start=[h245.encode_fast_start(p) for p in _proposals(spec, PORTS)],
    )
    tcs = h245.encode_h245(h245.TerminalCapabilitySet(1, spec))
    info = h225.UserInformation(setup, True, [tcs])
    return encode_tpkt(bytes(h225.build_q931(info, 1, False, display="Room 12")))


def _best(fn, rounds: int = 200) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1000


def main() -> None:
    start = time.perf_counter()
    per.warm_up()
    print(f"import of the pycrate H.225/H.245 modules: {(time.perf_counter() - start):.2f} s")
    data = _setup()
    print(f"Setup with 12 fast-start proposals and a tunnelled TCS: {len(data)} bytes")
    print(f"build + encode (UUIE, 12 OLCs, TCS, Q.931): {_best(_setup):.2f} ms median")

    def decode() -> None:
        message = h225.parse_signalling(data[4:])
        for element in message.info.body.fast_start or []:
            h245.decode_fast_start(element)
        for pdu in message.info.h245_control:
            h245.decode_h245(pdu)

    print(f"decode (Q.931, UUIE, 12 OLCs, TCS): {_best(decode):.2f} ms median")


if __name__ == "__main__":
    main()
