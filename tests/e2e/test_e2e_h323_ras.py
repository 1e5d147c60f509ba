"""The running MCU at an H.323 gatekeeper (the test gatekeeper of mcu.synthetic.gatekeeper on
127.0.0.1, UDP): it registers as an MCU with every room as a dialedDigits alias, sends keep-alive
RRQs before its 4 s time to live ends, asks admission (ARQ) for an H.323 site's call and
disengages (DRQ) when it ends, refuses a call the gatekeeper rejects, registers a room added by a
reload, drops a malformed RAS datagram (counted), and unregisters (URQ) when it stops. A
gatekeeper that is silent or rejects the MCU leaves it taking direct calls."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from mcu.h323 import rasmessages as rm
from mcu.h323.h225 import ALIAS_DIALED_DIGITS, ALIAS_H323_ID, ENDPOINT_MCU, Alias
from mcu.h323.q931 import CAUSE_SWITCHING_CONGESTION
from mcu.synthetic.gatekeeper import GatekeeperServer
from mcu.synthetic.h323 import CallRefused, H323Site
from tests.helpers import McuProcess, free_port, until

TIME_TO_LIVE = 4  # s: short, so that keep-alives come within the test
ROOMS = '[[room]]\nnumber = "4100"\nname = "Open"\n[[room]]\nnumber = "4200"\nname = "Board"\n'
ROOMS_RELOADED = ROOMS + '[[room]]\nnumber = "4300"\nname = "Added"\n'


def ras_mcu(tmp_path: Path, gatekeeper: GatekeeperServer, metrics_port: int | None = None) -> McuProcess:
    port = free_port(socket.SOCK_STREAM)
    host, gk_port = gatekeeper.address
    extra = (f'[h323]\nhost = "127.0.0.1"\nport = {port}\n'
             f'[h323.gatekeeper]\naddress = "{host}:{gk_port}"\ntime_to_live = {TIME_TO_LIVE}\n')
    mcu = McuProcess(tmp_path, rooms=ROOMS, extra=extra, metrics_port=metrics_port)
    mcu.h323_port = port  # type: ignore[attr-defined]
    return mcu


def full_rrqs(gk: GatekeeperServer) -> list[rm.RegistrationRequest]:
    return [m for m in gk.of_kind(rm.RRQ) if isinstance(m, rm.RegistrationRequest) and not m.keep_alive]


def metric(port: int, name: str) -> str:
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return "\n".join(line for line in page.splitlines() if line.startswith(name))


def test_mcu_registers_keeps_alive_admits_disengages_and_unregisters(tmp_path: Path) -> None:
    metrics_port = free_port(socket.SOCK_STREAM)
    with GatekeeperServer() as gk:
        mcu = ras_mcu(tmp_path, gk, metrics_port)
        port = mcu.h323_port  # type: ignore[attr-defined]
        site, refused_site = H323Site(21), H323Site(22)
        refused: list[CallRefused] = []
        facts: dict[str, object] = {}

        async def main() -> None:
            rrq = (await until(lambda: full_rrqs(gk), 10, "a full RRQ"))[0]  # type: ignore[index]
            facts["rrq"] = rrq
            await until(lambda: gk.core.endpoints, 5, "the RCF")
            registered_at = time.monotonic()
            await until(lambda: any(getattr(m, "keep_alive", False) for m in gk.of_kind(rm.RRQ)),
                        TIME_TO_LIVE + 1, "a keep-alive RRQ")
            facts["keep-alive after"] = time.monotonic() - registered_at
            facts["registered metric"] = metric(metrics_port, "mcu_h323_gatekeeper_registered")
            # a malformed datagram from the gatekeeper's address: dropped, counted, registration on
            gk.sock.sendto(b"\x03\x00garbage", rrq.ras_addresses[0])
            await site.call("127.0.0.1", port, "4100")
            facts["arq"] = gk.of_kind(rm.ARQ)
            await site.close()
            await until(lambda: gk.of_kind(rm.DRQ), 5, "the DRQ")
            gk.do(lambda core: setattr(core, "reject_admission", "resourceUnavailable"))
            try:
                await refused_site.call("127.0.0.1", port, "4100")
            except CallRefused as exc:
                refused.append(exc)
            finally:
                await refused_site.close()
            (tmp_path / "rooms.toml").write_text(ROOMS_RELOADED, encoding="utf-8")
            await until(lambda: any(Alias(ALIAS_DIALED_DIGITS, "4300") in m.aliases for m in full_rrqs(gk)),
                        10, "a full RRQ with the reloaded room")
            facts["dropped metric"] = metric(metrics_port, "mcu_h323_ras_dropped_total")

        try:
            asyncio.run(asyncio.wait_for(main(), 60))
        finally:
            mcu.stop()
        log = mcu.log()
        context = f"facts={facts}\nMCU log:\n{log[-4000:]}"
        urqs = gk.of_kind(rm.URQ)
        drqs = gk.of_kind(rm.DRQ)
        endpoints = dict(gk.core.endpoints)
    rrq = facts["rrq"]
    assert isinstance(rrq, rm.RegistrationRequest), context
    assert rrq.aliases == [Alias(ALIAS_DIALED_DIGITS, "4100"), Alias(ALIAS_DIALED_DIGITS, "4200"),
                           Alias(ALIAS_H323_ID, "open-mcu")], context
    assert rrq.terminal.kind == ENDPOINT_MCU and rrq.terminal.mc, context
    assert rrq.call_signal_addresses == [("127.0.0.1", port)] and rrq.time_to_live == TIME_TO_LIVE, context
    assert facts["keep-alive after"] < TIME_TO_LIVE, context  # type: ignore[operator]
    assert 'mcu_h323_gatekeeper_registered{gatekeeper="127.0.0.1:' in str(facts["registered metric"]), context
    assert str(facts["registered metric"]).endswith(" 1.0"), context
    assert 'reason="ras decode failed"} 1.0' in str(facts["dropped metric"]), context
    (arq,) = facts["arq"]  # type: ignore[misc]
    assert isinstance(arq, rm.AdmissionRequest) and arq.answer_call, context
    assert Alias(ALIAS_DIALED_DIGITS, "4100") in arq.destination_aliases, context
    assert Alias(ALIAS_H323_ID, "site21") in arq.source_aliases, context
    assert isinstance(drqs[0], rm.DisengageRequest) and drqs[0].call_id == arq.call_id, context
    assert drqs[0].answered_call and drqs[0].reason == rm.DRQ_NORMAL, context
    assert refused and refused[0].cause == CAUSE_SWITCHING_CONGESTION, context  # ARJ -> overload
    assert len(urqs) == 1 and isinstance(urqs[0], rm.UnregistrationRequest), context
    assert urqs[0].endpoint_id is not None and not endpoints, context  # the UCF came before exit
    assert mcu.events("h323.gatekeeper_registered") and mcu.events("h323.gatekeeper_refused_call"), context
    assert "Traceback" not in log, context


@pytest.mark.parametrize("policy", [{"silent": True}, {"reject_registration": "securityDenial"}],
                         ids=["silent", "rejecting"])
def test_mcu_takes_direct_calls_when_the_gatekeeper_is_silent_or_rejects_it(tmp_path: Path, policy) -> None:
    with GatekeeperServer(**policy) as gk:
        mcu = ras_mcu(tmp_path, gk)
        site = H323Site(23)

        async def main() -> None:
            await until(lambda: gk.received(), 10, "the GRQ")
            try:
                await site.call("127.0.0.1", mcu.h323_port, "4100")  # type: ignore[attr-defined]
                await asyncio.sleep(0.5)
            finally:
                await site.close()

        try:
            asyncio.run(asyncio.wait_for(main(), 40))
            log = mcu.log()
            joined = mcu.events("member.joined")
        finally:
            mcu.stop()
        names = {r.message.name for r in gk.received()}
    context = f"received={names}\nMCU log:\n{log[-3000:]}"
    assert joined, context
    assert names <= {rm.GRQ, rm.RRQ}, context  # no ARQ, no DRQ, no URQ while unregistered
    if "reject_registration" in policy:
        (failed,) = mcu.events("h323.gatekeeper_registration_failed")
        assert failed["reason"] == "securityDenial" and failed["level"] == "warning", context
    assert "Traceback" not in log, context
