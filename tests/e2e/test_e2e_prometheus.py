"""A real Prometheus scrapes the running MCU during a meeting of real baresip sites: every panel
of every shipped dashboard and every alert expression parses and returns data. The MCU is
registered at a test H.323 gatekeeper and meets one malformed H.323 PDU and one malformed RAS
datagram, so that the H.323 panels have series."""

from __future__ import annotations

import secrets
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from mcu.synthetic.gatekeeper import GatekeeperServer
from mcu.tenants import token_digest
from tests.e2e.test_e2e_baresip import start_baresip
from tests.helpers import McuProcess, free_port, wait_for
from tests.metrics.promcheck import (
    ALERTS,
    check_all,
    format_results,
    running_prometheus,
    wait_for_scrapes,
)

pytestmark = pytest.mark.peer


TENANTS = """[[tenant]]
name = "moh"
prefix = "41"
[[tenant.token]]
name = "moh-ops"
sha256 = "{digest}"
[tenant.quota]
sites = 10
rooms = 2
"""


def test_dashboards_and_alerts_have_data_for_a_running_meeting(tmp_path: Path) -> None:
    metrics_port, h323_port = free_port(), free_port(socket.SOCK_STREAM)
    (tmp_path / "mcu").mkdir()  # a tenant owns room 4100, so the tenant row has series too
    (tmp_path / "mcu" / "tenants.toml").write_text(TENANTS.format(digest=token_digest(secrets.token_hex(32))))
    with GatekeeperServer() as gk, McuProcess(tmp_path / "mcu", metrics_port=metrics_port, extra=(
            f'[h323]\nhost = "127.0.0.1"\nport = {h323_port}\n'
            f'[h323.gatekeeper]\naddress = "{gk.address[0]}:{gk.address[1]}"\n')) as mcu:
        assert mcu.events("metrics.listening"), mcu.log()
        wait_for(lambda: mcu.events("h323.gatekeeper_registered"), 10, "the gatekeeper registration")
        ras_host, ras_port = mcu.events("h323.gatekeeper_registering")[0]["ras"].rsplit(":", 1)
        gk.sock.sendto(b"\x03\x00garbage", (ras_host, int(ras_port)))
        with socket.create_connection(("127.0.0.1", h323_port), timeout=5) as s:
            s.sendall(b"\x03\x00\x00\x08\xff\xff\xff\xff")  # a TPKT whose Q.931 discriminator is wrong
        wait_for(lambda: mcu.events("h323.protocol_violation") and mcu.has("ras_dropped"), 10,
                 "the malformed PDU and datagram to be counted")
        sites = [start_baresip(tmp_path / f"site{i}", mcu.sip_port, tone, 40) for i, tone in enumerate((500, 900))]
        try:
            wait_for(lambda: len(mcu.events("member.joined")) == 2, 20, "two sites to join")
            with running_prometheus(tmp_path / "prom", [f"127.0.0.1:{metrics_port}"], rule_files=[ALERTS]) as prom:
                wait_for_scrapes(prom.url, count=8, timeout=40)
                failed = [r for r in check_all(prom.url, alerts_must_fire=False) if not r.ok]
                assert not failed, format_results(failed)
            page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
            series = [line for line in page.splitlines() if line and not line.startswith("#")]
            assert 'mcu_member_info{' in page and "baresip" in page
            assert 'mcu_tenant_sites{tenant="moh"} 2.0' in page, page
            assert len(series) < 1000, f"{len(series)} series for a 2-site meeting"
        finally:
            for site in sites:
                site.kill()
                site.wait(10)
        time.sleep(0.1)
