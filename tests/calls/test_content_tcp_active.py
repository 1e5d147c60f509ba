"""RFC 4145 the other way round: a site that offers TCP/BFCP with setup:passive listens, and the
MCU connects to it; the floor works over the connection we opened."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from mcu.bfcp.constants import AttributeType as A
from mcu.bfcp.constants import Primitive as P
from mcu.bfcp.message import Attribute, Message, decode, encode, message_length, statuses_of
from mcu.calls.content import ContentManager
from mcu.calls.media import Leg
from mcu.conference.engine import Conference
from mcu.config import load_config
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate
from tests.helpers import write_test_config

OFFERS = Path(__file__).resolve().parents[1] / "sdp" / "offers"



async def read_until_floor_request_status(reader: asyncio.StreamReader) -> list[Message]:
    """BFCP messages off a TCP stream until the FloorRequestStatus the test waits for."""
    out: list[Message] = []
    buffer = b""
    while not any(m.primitive == P.FLOOR_REQUEST_STATUS for m in out):
        buffer += await asyncio.wait_for(reader.read(4096), 5)
        while (length := message_length(buffer)) is not None and len(buffer) >= length:
            out.append(decode(buffer[:length]))
            buffer = buffer[length:]
    return out

def test_we_connect_to_a_site_that_listens(tmp_path):
    config = load_config(write_test_config(tmp_path, 5060, rooms='[[room]]\nnumber = "4100"\n',
                                           extra='[bfcp]\nhost = "127.0.0.1"\n'))

    async def main() -> list[Message]:
        loop = asyncio.get_running_loop()
        manager = ContentManager(config, Conference(config), {}, loop.time)
        await manager.start()
        accepted: asyncio.Queue = asyncio.Queue()

        async def site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await accepted.put((reader, writer))

        server = await asyncio.start_server(site, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        text = (OFFERS / "polycom_hdx.sdp").read_text().replace("a=setup:actpass", "a=setup:passive")
        text = text.replace("m=application 49156 TCP/BFCP", f"m=application {port} TCP/BFCP")
        text = text.replace("192.0.2.10", "127.0.0.1")
        terms = manager.terms_for("call-1", "4100")
        result = negotiate(text, Capabilities(), "127.0.0.1", [30000, 30002, 30004, 30006], bfcp=terms)
        assert result.bfcp_line().bfcp.we_connect  # type: ignore[union-attr]
        leg = Leg("call-1")
        leg.negotiation = result
        leg.member = SimpleNamespace(room="4100", display_name="hdx", chair=False, member_id=1, rtcp={})  # type: ignore[assignment]
        manager.legs["call-1"] = leg
        manager.joined(leg, result)
        reader, writer = await asyncio.wait_for(accepted.get(), 5)
        writer.write(encode(Message(P.FLOOR_REQUEST, terms.conference_id, 5, terms.user_id, [Attribute(A.FLOOR_ID, 1)])))
        await writer.drain()
        out = await read_until_floor_request_status(reader)
        writer.close()
        server.close()
        await manager.close()
        return out

    messages = asyncio.run(main())
    status = next(m for m in messages if m.primitive == P.FLOOR_REQUEST_STATUS)
    assert status.transaction_id == 5 and statuses_of(status)[0][1] == 3  # Granted, over our connection
