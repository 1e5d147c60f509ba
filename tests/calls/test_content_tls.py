"""TCP/TLS/BFCP: with "tls" in [bfcp] transports and the SIP certificate, an offer over TLS is
answered with our TLS port, and the floor works over that listener."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

from mcu.bfcp.constants import AttributeType as A
from mcu.bfcp.constants import Primitive as P
from mcu.bfcp.message import Attribute, Message, encode, statuses_of
from mcu.calls.content import ContentManager
from mcu.conference.engine import Conference
from mcu.config import load_config
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate
from tests.calls.test_content_tcp_active import read_until_floor_request_status
from tests.helpers import write_test_config

OFFERS = Path(__file__).resolve().parents[1] / "sdp" / "offers"


def test_floor_over_tls(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    config = load_config(write_test_config(tmp_path, 5060, rooms='[[room]]\nnumber = "4100"\n', extra=(
        f'[sip]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        '[bfcp]\nhost = "127.0.0.1"\ntransports = ["udp", "tcp", "tls"]\n')))

    async def main() -> tuple[str, list[Message]]:
        loop = asyncio.get_running_loop()
        manager = ContentManager(config, Conference(config), {}, loop.time)
        await manager.start()
        terms = manager.terms_for("call-1", "4100")
        manager.rooms["4100"].server.add_user(terms.user_id, "tls site")
        text = (OFFERS / "polycom_hdx.sdp").read_text().replace("TCP/BFCP", "TCP/TLS/BFCP")
        answer = negotiate(text, Capabilities(), "127.0.0.1", [30000, 30002, 30004, 30006], bfcp=terms)
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        reader, writer = await asyncio.open_connection("127.0.0.1", terms.tls_port, ssl=context)
        writer.write(encode(Message(P.FLOOR_REQUEST, terms.conference_id, 9, terms.user_id, [Attribute(A.FLOOR_ID, 1)])))
        out = await read_until_floor_request_status(reader)
        writer.close()
        await manager.close()
        return answer.local_sdp, out

    sdp, messages = asyncio.run(main())
    assert "TCP/TLS/BFCP" in sdp and "m=application 0 " not in sdp, sdp
    status = next(m for m in messages if m.primitive == P.FLOOR_REQUEST_STATUS)
    assert status.transaction_id == 9 and statuses_of(status)[0][1] == 3


def test_a_taken_bfcp_port_leaves_the_mcu_without_floor_control_not_down(tmp_path):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = load_config(write_test_config(tmp_path, 5060, rooms='[[room]]\nnumber = "4100"\n',
                                               extra=f'[bfcp]\nhost = "127.0.0.1"\ntcp_port = {port}\n'))

        async def main() -> object:
            manager = ContentManager(config, Conference(config), {}, asyncio.get_running_loop().time)
            await manager.start()
            terms = manager.terms_for("call-1", "4100")
            await manager.close()
            return terms

        assert asyncio.run(main()) is None  # BFCP lines are answered with port 0; calls go on
