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


class SrtpContext:
    def __init__(self, keys: SrtpKeys) -> None:
        profile = PROFILES[keys.suite]
        self.keys = keys
        self._in = Session(policy=Policy(key=keys.remote_key, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                         srtp_profile=profile))
        out = Policy(key=keys.local_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        out.allow_repeat_tx = True  # a NACKed packet goes out again, identical (RFC 3711 3.3.2)
        self._out = Session(policy=out)

    def unprotect_rtp(self, data: bytes) -> bytes:
        try:
            return self._in.unprotect(data)
        except Error as exc:
            raise MediaParseError(f"SRTP: {exc}", "srtp authentication") from None

    def unprotect_rtcp(self, data: bytes) -> bytes:
        try:
            return self._in.unprotect_rtcp(data)
        except Error as exc:
            raise MediaParseError(f"SRTCP: {exc}", "srtcp authentication") from None

    def protect_rtp(self, data: bytes) -> bytes | None:
        """The packet to send, or None if libsrtp refuses it (counted by the caller, never raised
        into a tick or a callback)."""
        try:
            return self._out.protect(data)
        except Error:
            return None

    def protect_rtcp(self, data: bytes) -> bytes | None:
        try:
            return self._out.protect_rtcp(data)
        except Error:
            return None
