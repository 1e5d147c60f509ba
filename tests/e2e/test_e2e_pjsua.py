"""pjsua2 (an independent SIP and audio stack) calls the MCU: each caller hears the other, not itself."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import McuProcess, tone_power

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.peer


def run_peer(port: int, out: Path, tones: str, seconds: float, room: str = "4100", dtmf: str = "",
             srtp: bool = False) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, str(HERE / "pjsua_peer.py"), "--port", str(port), "--room", room,
                             "--tones", tones, "--seconds", str(seconds), "--out", str(out), "--dtmf", dtmf,
                             *(["--srtp"] if srtp else [])],
                            check=False, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, f"pjsua2 peer failed (is pjsua2-python installed?):\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def recorded(path: str, skip_seconds: float = 3.0) -> tuple[np.ndarray, int]:
    """PCM of a pjmedia recording (its header sizes may be left 0: read the canonical 44-byte layout)."""
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and data[36:40] == b"data", f"{path} is not a WAV"
    rate = struct.unpack_from("<I", data, 24)[0]
    pcm = np.frombuffer(data[44: 44 + (len(data) - 44) // 2 * 2], dtype=np.int16)
    return pcm[int(skip_seconds * rate):], rate


@pytest.mark.parametrize(("srtp", "shared_port"), [(False, False), (True, False), (False, True)],
                         ids=["rtp", "srtp-mandatory", "rtp-shared-port"])
def test_two_pjsua_callers_hear_each_other_but_not_themselves(tmp_path: Path, srtp: bool, shared_port: bool) -> None:
    tones = (600.0, 1400.0)
    with McuProcess(tmp_path / "mcu", shared_port=shared_port) as mcu:
        summary = run_peer(mcu.sip_port, tmp_path / "peer", ",".join(map(str, tones)), seconds=7, srtp=srtp)
        assert [s["confirmed"] for s in summary] == [True, True], (summary, mcu.log()[-3000:])
        joined = mcu.events("member.joined")
        assert [j["encrypted"] for j in joined] == [srtp, srtp], mcu.log()[-3000:]
    for i, info in enumerate(summary):
        pcm, rate = recorded(info["heard"])
        assert len(pcm) > rate, f"caller {i} recorded too little audio"
        own, other = tone_power(pcm, rate, tones[i]), tone_power(pcm, rate, tones[1 - i])
        assert other > 1e-3, f"caller {i} must hear the other caller's {tones[1 - i]} Hz tone (power {other})"
        assert own < other / 100, f"caller {i} must not hear itself: own {own} vs other {other}"


def test_pin_room_admits_on_right_pin_by_rfc4733(tmp_path: Path) -> None:
    with McuProcess(tmp_path / "mcu") as mcu:
        summary = run_peer(mcu.sip_port, tmp_path / "peer", "700", seconds=4, room="4200", dtmf="2468#")
        assert summary[0]["confirmed"], summary
        joined = mcu.events("member.joined")
        assert joined and joined[-1]["room"] == "4200", mcu.log()[-3000:]
        assert "2468" not in mcu.log(), "the PIN must never appear in the log"


def test_three_wrong_pins_hang_up(tmp_path: Path) -> None:
    with McuProcess(tmp_path / "mcu") as mcu:
        summary = run_peer(mcu.sip_port, tmp_path / "peer", "700", seconds=4, room="4200", dtmf="1#2#3#")
        assert summary[0]["confirmed"] and summary[0]["disconnected_by_peer"], summary
        refused = mcu.events("member.pin_refused")
        assert refused and refused[0]["reason"] == "too many wrong PINs", mcu.log()[-3000:]
        assert not mcu.events("member.joined")


def test_room_that_requires_encryption_takes_srtp_callers_only(tmp_path: Path) -> None:
    rooms = '[[room]]\nnumber = "4100"\nname = "Encrypted"\nencryption = "required"\n'
    with McuProcess(tmp_path / "mcu", rooms=rooms) as mcu:
        plain = run_peer(mcu.sip_port, tmp_path / "plain", "600", seconds=1)
        secure = run_peer(mcu.sip_port, tmp_path / "secure", "600", seconds=1, srtp=True)
        rejected = mcu.events("call.rejected")
        joined = mcu.events("member.joined")
    assert not plain[0]["confirmed"] and plain[0]["status"] == 488, plain
    assert rejected and rejected[0]["reason"] == "Encryption Required", rejected
    assert secure[0]["confirmed"], secure
    assert [j["encrypted"] for j in joined] == [True], joined
