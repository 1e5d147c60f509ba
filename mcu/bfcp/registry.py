"""Every room's floor control server behind one listener, by BFCP conference id.

The shell hands each message here; bytes that are not BFCP, or BFCP for no conference we host,
are counted by reason and dropped (a known conference's malformed message gets its Error too).
"""

from __future__ import annotations

from collections import Counter

from .constants import VERSION_RELIABLE, VERSION_UNRELIABLE, AttributeType, ErrorCode, Primitive
from .message import Attribute, BfcpParseError, Message, decode, encode, peek_header
from .server import FloorServer, NotForUs
from .transaction import Peer

MAX_CONFERENCE_ID = 0xFFFFFFFF


class FloorRegistry:
    def __init__(self) -> None:
        self.servers: dict[int, FloorServer] = {}
        self.dropped: Counter[str] = Counter()  # reason -> messages dropped
        self._out: list[tuple[Peer, bytes]] = []

    def add(self, server: FloorServer) -> None:
        if server.conference_id in self.servers:
            raise ValueError(f"BFCP conference {server.conference_id} exists already")
        self.servers[server.conference_id] = server

    def remove(self, conference_id: int) -> None:
        self.servers.pop(conference_id, None)

    def receive(self, data: bytes, peer: Peer, now: float) -> FloorServer | None:
        """Route one message; returns the server that took it (None: dropped)."""
        try:
            header = peek_header(data)
        except BfcpParseError:
            self.dropped["short"] += 1
            return None
        if header.version not in (1, 2):
            self.dropped["version"] += 1  # not BFCP as far as we can tell: no answer
            return None
        server = self.servers.get(header.conference_id)
        if server is None:
            try:
                decode(data)  # only a well-formed message earns an answer: garbage gets none
            except BfcpParseError:
                self.dropped["malformed"] += 1
                return None
            self.dropped["unknown conference"] += 1
            if header.primitive != Primitive.ERROR and not (header.version == 2 and header.responder):
                self._unknown_conference(peer, header.version, header.conference_id, header.transaction_id,
                                         header.user_id, header.primitive)
            return None
        try:
            server.receive(data, peer, now)
        except BfcpParseError as exc:
            self.dropped[exc.code.name.lower()] += 1
        except NotForUs:  # pragma: no cover - routed by the same id
            self.dropped["unknown conference"] += 1
        return server

    def _unknown_conference(self, peer: Peer, version: int, conference_id: int, transaction_id: int,
                            user_id: int, primitive: int) -> None:
        udp = isinstance(peer, tuple) and bool(peer) and peer[0] == "udp"
        version = version if version in (VERSION_RELIABLE, VERSION_UNRELIABLE) else VERSION_RELIABLE
        error = Message(Primitive.ERROR, conference_id, transaction_id, user_id,
                        [Attribute(AttributeType.ERROR_CODE, (int(ErrorCode.CONFERENCE_DOES_NOT_EXIST), b""), True),
                         Attribute(AttributeType.ERROR_INFO, "no such conference here")],
                        version=version, responder=version == VERSION_UNRELIABLE and udp)
        self._out.append((peer, encode(error)))

    def datagrams_to_send(self) -> list[tuple[Peer, bytes]]:
        out, self._out = self._out, []
        for server in self.servers.values():
            out.extend(server.datagrams_to_send())
        return out

    def handle_timer(self, now: float) -> None:
        for server in self.servers.values():
            server.handle_timer(now)

    def get_timer(self) -> float | None:
        times = [t for t in (s.get_timer() for s in self.servers.values()) if t is not None]
        return min(times) if times else None
