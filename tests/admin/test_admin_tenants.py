"""Two tenants in one running MCU: each token sees and changes only its own rooms (another tenant's
room is a 404 like a room that does not exist), through the API and `mcu ctl`; every change is
audited; a quota of 2 concurrent sites refuses the third call with the stated reason."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest
from admin_helpers import TOKEN, RunningMcu, SippUac, api_json, need_sipp, write_admin_config
from helpers import free_port, wait_for

from mcu.admin.ctl import EXIT_REFUSED, register
from mcu.tenants import token_digest
from tests.e2e.test_e2e_sipp import EXPECT_STATUS  # an INVITE answered with a status, then ACK

pytestmark = pytest.mark.peer

MOH = "moh-token-0123456789abcdef"
MOF = "mof-token-0123456789abcdef"

TENANTS = f'''
[[tenant]]
name = "moh"
prefix = "41"
sites = ["hanoi"]
layouts = ["speaker", "2x2"]
[[tenant.token]]
name = "moh-ops"
file = "moh.token"
[tenant.quota]
sites = 2
max_tier = "sd360"
recording_disk_mb = 1

[[tenant]]
name = "mof"
prefix = "42"
sites = ["hue"]
[[tenant.token]]
name = "mof-ops"
sha256 = "{token_digest(MOF)}"
'''



def tenant_config(tmp: Path) -> Path:
    path = write_admin_config(tmp, sites=[("hanoi", "sip:hanoi@127.0.0.1:9", "Ha Noi"),
                                          ("hue", "sip:hue@127.0.0.1:9", "Hue")])
    (tmp / "moh.token").write_text(MOH + "\n")
    (tmp / "mof.token").write_text(MOF + "\n")
    (tmp / "tenants.toml").write_text(TENANTS)
    return path


def _ctl(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mcu")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ctl", *argv])
    return int(args.func(args))


def _rooms(url: str, token: str) -> list[str]:
    status, doc = api_json(url, "GET", "/rooms", token=token)
    assert status == 200, doc
    return [r["number"] for r in doc["result"]]


def test_each_tenant_sees_and_changes_only_its_rooms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tenant_config(tmp_path)
    with RunningMcu(config) as mcu:
        assert _rooms(mcu.url, MOH) == ["4100"]
        assert _rooms(mcu.url, MOF) == ["4200"]
        assert _rooms(mcu.url, TOKEN) == ["4100", "4200"]  # the provider sees all
        status, _ = api_json(mcu.url, "GET", "/rooms", token="not-anyones-token-000000")
        assert status == 401
        uac = SippUac(mcu.sip_port, "4200")
        try:
            member = mcu.wait_members("4200", 1)[0]
            other = f"/rooms/4200/members/{member.member_id}"
            nowhere = f"/rooms/9999/members/{member.member_id}"
            # moh cannot mute, dial, record, list or read usage of mof's room; the answer is the very
            # one a room that does not exist gets, and it names nothing of mof's
            for method, path, body in (("POST", f"{other}/mute", None), ("POST", "/rooms/4200/dial",
                                       {"target": "sip:x@127.0.0.1:9"}), ("POST", "/rooms/4200/recording/start", None),
                                       ("GET", "/rooms/4200/members", None), ("POST", "/rooms/4200/lock", None)):
                status, doc = api_json(mcu.url, method, path, body, token=MOH)
                ghost = api_json(mcu.url, method, path.replace("/rooms/4200", "/rooms/9999"), body, token=MOH)
                assert status == 404, (path, doc)
                assert ghost == (404, {"error": doc["error"].replace("'4200'", "'9999'")}), (doc, ghost)
                assert "mof" not in json.dumps(doc) and "Small room" not in json.dumps(doc)
            assert api_json(mcu.url, "POST", f"{nowhere}/mute", token=MOH)[0] == 404
            assert not mcu.members("4200")[0].muted and not mcu.room("4200").locked
            status, doc = api_json(mcu.url, "GET", "/usage?tenant=mof", token=MOH)
            assert status == 404, doc
            status, doc = api_json(mcu.url, "POST", "/reload", token=MOH)  # the provider's command only
            assert status == 404, doc
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/dial", {"target": "hue"}, token=MOH)
            assert status == 404 and "roster" in doc["error"], doc  # mof's roster site
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/layout", {"layout": "grid"}, token=MOH)
            assert status == 400 and "may choose" in doc["error"], doc
            # mof itself can
            status, doc = api_json(mcu.url, "POST", f"{other}/mute", token=MOF, headers={"X-Operator": "duty"})
            assert status == 200, doc
            assert mcu.members("4200")[0].muted
            status, doc = api_json(mcu.url, "GET", "/usage", token=MOF)
            assert status == 200 and [t["tenant"] for t in doc["result"]["tenants"]] == ["mof"], doc
            # its roster and its layouts only (its console is scoped too: tests/console/test_console_tenants.py)
            status, doc = api_json(mcu.url, "GET", "/rooms/4100/roster", token=MOH)
            assert status == 200 and [r["site"] for r in doc["result"]] == ["hanoi"], doc
            status, doc = api_json(mcu.url, "GET", "/layouts", token=MOH)
            assert status == 200 and sorted(e["name"] for v in doc["result"].values() for e in v) == \
                ["2x2", "speaker"], doc
            status, doc = api_json(mcu.url, "GET", "/layouts", token=TOKEN)
            assert len([e for v in doc["result"].values() for e in v]) > 2
            status, doc = api_json(mcu.url, "GET", "/usage?tenant=provider", token=TOKEN)
            assert status == 200 and [t["tenant"] for t in doc["result"]["tenants"]] == ["provider"], doc
            assert api_json(mcu.url, "GET", "/usage?tenant=nobody", token=TOKEN)[0] == 404
            assert api_json(mcu.url, "GET", "/usage?month=2026-13", token=TOKEN)[0] == 400

            # the same through `mcu ctl` with a tenant's token file
            capsys.readouterr()
            moh_file, mof_file = str(tmp_path / "moh.token"), str(tmp_path / "mof.token")
            common = ["-c", str(config), "--url", mcu.url]
            assert _ctl(["rooms", *common, "--token-file", moh_file, "--json"]) == 0
            assert [r["number"] for r in json.loads(capsys.readouterr().out)] == ["4100"]
            for argv in (["unmute", "4200", str(member.member_id)], ["dial", "4200", "sip:x@127.0.0.1:9"],
                         ["record", "start", "4200"], ["members", "4200"], ["usage", "--tenant", "mof"]):
                assert _ctl([*argv, *common, "--token-file", moh_file]) == EXIT_REFUSED, argv
                assert "refused (404)" in capsys.readouterr().err, argv
            assert mcu.members("4200")[0].muted  # still muted: moh's unmute was refused
            assert _ctl(["unmute", "4200", str(member.member_id), *common, "--token-file", mof_file]) == 0
            assert not mcu.members("4200")[0].muted
            capsys.readouterr()
            assert _ctl(["usage", *common, "--token-file", mof_file, "--json"]) == 0
            assert json.loads(capsys.readouterr().out)["tenants"][0]["tenant"] == "mof"
        finally:
            uac.kill()
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        refused = [a for a in audit if a["tenant"] == "moh" and a["command"] == "mute"]
        assert refused and refused[0]["outcome"] == "404" and refused[0]["token"] == "moh-ops"
        assert refused[0]["args"]["room"] == "4200" and refused[0]["time"].endswith("Z")
        done = [a for a in audit if a["tenant"] == "mof" and a["command"] == "mute"]
        assert done and done[0]["outcome"] == "ok" and done[0]["operator"] == "duty"
        assert {a["command"] for a in audit} >= {"mute", "unmute", "dial", "record-start", "lock", "reload"}
        assert all(a["command"] not in ("rooms", "members", "usage") for a in audit)  # reads are not audited


def test_a_quota_of_two_sites_refuses_the_third_with_its_reason(tmp_path: Path) -> None:
    config = tenant_config(tmp_path)
    with RunningMcu(config) as mcu:
        uacs = [SippUac(mcu.sip_port, "4100") for _ in range(2)]
        try:
            mcu.wait_members("4100", 2)
            scenario = tmp_path / "expect_486.xml"
            scenario.write_text(EXPECT_STATUS.format(code=486))
            third = subprocess.run([need_sipp(), f"127.0.0.1:{mcu.sip_port}", "-sf", str(scenario), "-s", "4100",
                                    "-i", "127.0.0.1", "-p", str(free_port()), "-m", "1", "-nostdin",
                                    "-timeout", "20s", "-timeout_error", "-trace_msg", "-message_file",
                                    str(tmp_path / "third.log")],
                                   capture_output=True, text=True, timeout=40, check=False)
            assert third.returncode == 0, third.stderr[-1500:]
            assert "SIP/2.0 486 Tenant Quota: Sites" in (tmp_path / "third.log").read_text(errors="replace")
            assert len(mcu.members("4100")) == 2
            snapshots = {s.tenant: s for s in mcu.on_loop(mcu.server.tenant_snapshots)}  # type: ignore[union-attr]
            assert snapshots["moh"].refusals == {"sites": 1} and snapshots["moh"].sites == 2
            assert snapshots["moh"].use["sites"] == 1.0
            # mof's room is another tenant's quota: it still takes calls
            uacs.append(SippUac(mcu.sip_port, "4200"))
            mcu.wait_members("4200", 1)
            # the operator's dial into the full tenant is refused with the same reason
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/dial", {"target": "sip:x@127.0.0.1:9"}, token=MOH)
            assert status == 409 and "486 Tenant Quota: Sites" in doc["error"], doc
            # a site leaving frees its seat
            uacs[0].kill()
            member = mcu.members("4100")[0]
            mcu.on_loop(lambda: mcu.server.hangup(member.call_id, "test"))  # type: ignore[union-attr]
            wait_for(lambda: len(mcu.members("4100")) == 1, 10, "one site left")
            status, doc = api_json(mcu.url, "GET", "/usage", token=MOH)  # its record, in moh's statement
            assert status == 200 and doc["result"]["tenants"][0]["tenant"] == "moh", doc
            assert doc["result"]["tenants"][0]["calls"] == 1 and doc["result"]["tenants"][0]["meetings"] == 0, doc
            uacs.append(SippUac(mcu.sip_port, "4100"))
            mcu.wait_members("4100", 2)
        finally:
            for uac in uacs:
                uac.kill()


def test_the_tier_quota_caps_pictures_and_the_disk_quota_refuses_recordings(tmp_path: Path) -> None:
    config = tenant_config(tmp_path)
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "20261201T090000Z-4100.mp4").write_bytes(b"\0" * 1_500_000)  # moh's: past its 1 MB
    with RunningMcu(config) as mcu:
        uacs = [SippUac(mcu.sip_port, "4100"), SippUac(mcu.sip_port, "4200")]
        try:
            moh_member = mcu.wait_members("4100", 1)[0]
            mof_member = mcu.wait_members("4200", 1)[0]
            moh_out = mcu.on_loop(lambda: moh_member.video_out.config)
            mof_out = mcu.on_loop(lambda: mof_member.video_out.config)
            assert moh_out.width * moh_out.height <= 640 * 360, moh_out  # max_tier = "sd360"
            assert mof_out.width * mof_out.height > 640 * 360, mof_out  # no cap: the MCU's own size
            status, doc = api_json(mcu.url, "POST", "/rooms/4100/recording/start", token=MOH)
            assert status == 409 and "recording_disk quota" in doc["error"], doc
            assert not mcu.on_loop(lambda: "4100" in mcu.server.recorder.recordings)  # type: ignore[union-attr]
            snapshots = {s.tenant: s for s in mcu.on_loop(mcu.server.tenant_snapshots)}  # type: ignore[union-attr]
            assert snapshots["moh"].refusals.get("recording_disk") == 1
            # the recordings list is scoped too
            assert [r["room"] for r in api_json(mcu.url, "GET", "/recordings", token=MOH)[1]["result"]] == ["4100"]
            assert api_json(mcu.url, "GET", "/recordings", token=MOF)[1]["result"] == []
            assert api_json(mcu.url, "GET", "/recordings?room=4100", token=MOF)[0] == 404
        finally:
            for uac in uacs:
                uac.kill()
