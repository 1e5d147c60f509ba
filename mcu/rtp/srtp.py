"""SRTP/SRTCP protection of one stream (RFC 3711) with SDES keys (mcu.sdp.crypto), by libsrtp.

Inbound packets are authenticated and decrypted with the peer's key; a packet that fails (wrong
key, tampered, replayed) raises MediaParseError("srtp authentication"), so the shell counts and
drops it like any malformed packet. Outbound packets are protected with our key.
"""

from __future__ import annotations

from pylibsrtp import Error, Policy, Session

from mcu.rtp.errors import MediaParseError
from mcu.sdp.crypto import SrtpKeys

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


RETRANSMIT_WINDOW = 512  # packets back we may send again (the viewers' history, mcu.conference.video)


def _inbound(key: bytes, suite: str) -> Session:
    return Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILES[suite]))


def _outbound(key: bytes, suite: str) -> Session:
    policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILES[suite])
    policy.allow_repeat_tx = True  # a NACKed packet goes out again, identical (RFC 3711 3.3.2)
    policy.window_size = RETRANSMIT_WINDOW
    return Session(policy=policy)


class SrtpContext:
    def __init__(self, keys: SrtpKeys) -> None:
        self.keys = keys
        self._in = _inbound(keys.remote_key, keys.suite)
        self._out = _outbound(keys.local_key, keys.suite)

    def rekey(self, keys: SrtpKeys) -> None:
        """New keys from a re-offer: only a direction whose key changed starts afresh (the other
        keeps its packet indexes: restarting them under the same key would reuse keystream)."""
        if (keys.remote_key, keys.suite) != (self.keys.remote_key, self.keys.suite):
            self._in = _inbound(keys.remote_key, keys.suite)
        if (keys.local_key, keys.suite) != (self.keys.local_key, self.keys.suite):
            self._out = _outbound(keys.local_key, keys.suite)
        self.keys = keys

    def unprotect_rtp(self, data: bytes) -> bytes:
        try:
            return self._in.unprotect(data)
        except (Error, ValueError) as exc:  # ValueError: longer than libsrtp takes
            raise MediaParseError(f"SRTP: {exc}", "srtp authentication") from None

    def unprotect_rtcp(self, data: bytes) -> bytes:
        try:
            return self._in.unprotect_rtcp(data)
        except (Error, ValueError) as exc:
            raise MediaParseError(f"SRTCP: {exc}", "srtcp authentication") from None

    def protect_rtp(self, data: bytes) -> bytes | None:
        """The packet to send, or None if libsrtp refuses it (counted by the caller, never raised
        into a tick or a callback)."""
        try:
            return self._out.protect(data)
        except (Error, ValueError):
            return None

    def protect_rtcp(self, data: bytes) -> bytes | None:
        try:
            return self._out.protect_rtcp(data)
        except (Error, ValueError):
            return None
