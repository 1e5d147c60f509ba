"""Streams on one shared media port ([rtp] shared_port): told apart by source address, latched
as on their own ports, their sends batched per loop iteration, one stream's failures its own."""

from __future__ import annotations

import asyncio
import errno
import socket

from test_rtp_transport_shell import Sink, peer, rtp, settle

from mcu._rtp import pack_address
from mcu.io.rtp_transport import RtpTransport, SharedPorts
from mcu.rtp.rtcp import Pli, serialize_compound


def free_pair() -> int:
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1] & ~1
        probe.close()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free UDP port pair")


def drain(s: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(s.recv(2048))
        except BlockingIOError:
            return out


def stream(shared: SharedPorts, sink: Sink, remote: socket.socket | None, **kw: object) -> RtpTransport:
    return RtpTransport.on_shared_port(shared, sink.on_rtp, sink.on_rtcp, sink.on_timeout,
                                       remote_rtp=remote.getsockname() if remote else None, **kw)  # type: ignore[arg-type]


def test_streams_from_one_host_are_told_apart_by_their_sdp_ports() -> None:
    async def main() -> None:
        shared = SharedPorts.open("127.0.0.1", free_pair())
        sites = [peer() for _ in range(3)]
        sinks = [Sink() for _ in sites]
        streams = [stream(shared, sink, site) for sink, site in zip(sinks, sites)]
        assert {t.rtp_port for t in streams} == {shared.rtp.port}
        assert {t.rtcp_port for t in streams} == {shared.rtp.port + 1}
        stranger = peer()
        for round_ in range(3):
            for i, site in enumerate(sites):
                site.sendto(rtp(100 * i + round_), ("127.0.0.1", shared.rtp.port))
            stranger.sendto(rtp(999), ("127.0.0.1", shared.rtp.port))
        await settle()
        assert [[seq for seq, _ in sink.rtp] for sink in sinks] == [[0, 1, 2], [100, 101, 102], [200, 201, 202]]
        assert all(t.latched_rtp for t in streams) and shared.unmatched == 3
        for i, t in enumerate(streams):  # an audio tick: every member's packet, one flush
            t.send_rtp(rtp(500 + i))
        await settle()
        assert [drain(site) for site in sites] == [[rtp(500)], [rtp(501)], [rtp(502)]]
        assert [t.counters.sent_rtp for t in streams] == [1, 1, 1]
        # RTCP without rtcp-mux on the port above, from the host the stream latched
        sites[1].sendto(serialize_compound([Pli(1, 2)]), ("127.0.0.1", shared.rtcp.port))
        await settle()
        assert sinks[1].rtcp == [[Pli(1, 2)]] and not sinks[0].rtcp
        for t in streams:
            t.close()
        shared.close()

    asyncio.run(main())


def test_a_site_behind_a_nat_is_matched_while_it_is_the_only_one_waiting() -> None:
    async def main() -> None:
        shared = SharedPorts.open("127.0.0.1", free_pair())
        sink, other_sink = Sink(), Sink()
        nat = stream(shared, sink, None, remote_rtcp=None)
        nat.relatch(("192.0.2.7", 5004))  # its SDP names a private address we never hear from
        site = peer()
        site.sendto(rtp(1), ("127.0.0.1", shared.rtp.port))
        await settle()
        assert [seq for seq, _ in sink.rtp] == [1] and nat.remote_rtp == site.getsockname()
        # two waiting, their SDP hosts unheard of: told apart by the port they said they send from
        ported, ported_sink = stream(shared, Sink(), None), Sink()
        ported.on_rtp = ported_sink.on_rtp
        keeper = peer()
        ported.relatch(("192.0.2.6", keeper.getsockname()[1]))
        spare = stream(shared, Sink(), None)
        spare.relatch(("192.0.2.5", 5006))
        keeper.sendto(rtp(7), ("127.0.0.1", shared.rtp.port))
        await settle()
        assert [seq for seq, _ in ported_sink.rtp] == [7] and not spare.latched_rtp
        ported.close()
        spare.close()
        second, third = stream(shared, other_sink, None), stream(shared, Sink(), None)
        second.relatch(("192.0.2.8", 5004))
        third.relatch(("192.0.2.9", 5004))
        peer().sendto(rtp(2), ("127.0.0.1", shared.rtp.port))  # two waiting: nobody's
        await settle()
        assert not other_sink.rtp and shared.unmatched == 1
        for t in (nat, second, third):
            t.close()
        shared.close()

    asyncio.run(main())


def test_relatching_and_closing_forget_the_source() -> None:
    async def main() -> None:
        shared = SharedPorts.open("127.0.0.1", free_pair())
        sink = Sink()
        old, new = peer(), peer()
        t = stream(shared, sink, old)
        old.sendto(rtp(1), ("127.0.0.1", shared.rtp.port))
        await settle()
        t.relatch(new.getsockname())  # a re-INVITE moved the site
        new.sendto(rtp(3), ("127.0.0.1", shared.rtp.port))
        await settle()
        old.sendto(rtp(2), ("127.0.0.1", shared.rtp.port))  # the old source: latched away from
        await settle()
        assert [seq for seq, _ in sink.rtp] == [1, 3] and t.remote_rtp == new.getsockname()
        assert shared.rtp.by_source == {new.getsockname(): t._rtp_socket}
        t.close()
        new.sendto(rtp(4), ("127.0.0.1", shared.rtp.port))
        await settle()
        assert [seq for seq, _ in sink.rtp] == [1, 3] and not shared.rtp.by_source and not shared.rtp.views
        shared.close()

    asyncio.run(main())


def test_one_streams_send_failure_is_its_own_and_the_rest_of_the_batch_goes_out() -> None:
    async def main() -> None:
        shared = SharedPorts.open("127.0.0.1", free_pair())
        sites = [peer() for _ in range(3)]
        streams = [stream(shared, Sink(), site) for site in sites]
        streams[1]._rtp_destination = pack_address(socket.AF_INET, "255.255.255.255", 9)  # EACCES
        for _ in range(2):
            for i, t in enumerate(streams):
                t.send_rtp(rtp(i))
        await settle()
        assert [len(drain(s)) for s in sites] == [2, 0, 2]
        errors = [dict(t.counters.send_errors) for t in streams]
        assert errors == [{}, {errno.errorcode[errno.EACCES]: 2}, {}]
        for t in streams:
            t.close()
        shared.close()

    asyncio.run(main())


def test_a_taken_shared_port_is_an_oserror() -> None:
    async def main() -> None:
        port = free_pair()
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind(("127.0.0.1", port + 1))
        try:
            SharedPorts.open("127.0.0.1", port)
        except OSError:
            return
        finally:
            holder.close()
        raise AssertionError("binding next to a taken RTCP port succeeded")

    asyncio.run(main())
