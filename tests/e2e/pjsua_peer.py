"""A pjsua2 caller (an independent SIP and audio stack) for the end-to-end tests.

Run as a script: places one call per tone into a room of the MCU, plays that tone into the
call, records what the MCU sends back to a WAV file per call, hangs up, prints a JSON summary.
Optional DTMF digits are sent (RFC 4733) two seconds after the call is up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time
import wave
from pathlib import Path

import pjsua2 as pj


def write_tone(path: Path, freq: float, seconds: float = 30.0, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * n / rate)))
                          for n in range(int(seconds * rate)))
        w.writeframes(frames)


class PeerCall(pj.Call):
    def __init__(self, account: pj.Account, tone_file: Path, record_file: Path):
        super().__init__(account)
        self.tone_file, self.record_file = tone_file, record_file
        self.player = self.recorder = None
        self.confirmed = False
        self.disconnected = False
        self.last_status = 0

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        self.last_status = info.lastStatusCode
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                audio = self.getAudioMedia(index)
                if self.player is None:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(str(self.tone_file))
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(str(self.record_file))
                self.player.startTransmit(audio)
                audio.startTransmit(self.recorder)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--room", default="4100")
    parser.add_argument("--tones", default="600,1400")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dtmf", default="")
    parser.add_argument("--srtp", action="store_true", help="SRTP mandatory (SDES keys, even over UDP)")
    args = parser.parse_args()
    out = Path(args.out)
    tones = [float(t) for t in args.tones.split(",")]

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()

    calls = []
    accounts = []
    for i, tone in enumerate(tones):
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:pjsua{i}@127.0.0.1"
        if args.srtp:
            acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
            acfg.mediaConfig.srtpSecureSignaling = 0  # SDES keys over plain UDP SIP (a test on loopback)
        account = pj.Account()
        account.create(acfg)
        accounts.append(account)
        tone_file, record_file = out / f"tone{i}.wav", out / f"heard{i}.wav"
        write_tone(tone_file, tone)
        call = PeerCall(account, tone_file, record_file)
        call.makeCall(f"sip:{args.room}@127.0.0.1:{args.port}", pj.CallOpParam(True))
        calls.append(call)

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(20)

    pump(2.0)
    if args.dtmf:
        for call in calls:
            if call.confirmed:
                call.dialDtmf(args.dtmf)
    pump(args.seconds)
    summary = [{"confirmed": c.confirmed, "status": c.last_status, "disconnected_by_peer": c.disconnected,
                "heard": str(c.record_file)} for c in calls]
    for call in calls:
        if call.confirmed and not call.disconnected:
            call.hangup(pj.CallOpParam(True))
    pump(1.0)
    for call in calls:  # closing a recorder writes its WAV header
        call.recorder = None
        call.player = None
    print(json.dumps(summary))
    sys.stdout.flush()
    # pjsua2's Python objects assert in their destructors once calls are gone; the recordings are
    # flushed by then, so leave without running them.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
