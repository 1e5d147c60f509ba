"""SDES-SRTP keys in SDP (RFC 4568): read the offer's a=crypto lines, choose one, make ours.

    a=crypto:<tag> <crypto-suite> inline:<base64 of 16-byte master key + 14-byte salt>[|lifetime][|MKI:length]

We answer the first offered line with a suite we support (AES_CM_128_HMAC_SHA1_80 first,
then _32 in the offer's order), no MKI (one key per stream) and no session parameters, with the same tag and suite and
a fresh key of our own. Each direction is then protected with the key of its sender.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

SUITES: tuple[str, ...] = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
KEY_SALT_BYTES = 30  # 128-bit master key + 112-bit master salt


@dataclass(frozen=True)
class Crypto:
    """One a=crypto line."""

    tag: int
    suite: str
    key: bytes  # master key + salt, KEY_SALT_BYTES
    mki: bool = False

    def value(self) -> str:
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


@dataclass(frozen=True)
class SrtpKeys:
    """What a call's SRTP needs: the suite, the key the peer sends with, the key we send with."""

    suite: str
    remote_key: bytes
    local_key: bytes


def parse_crypto(value: str) -> Crypto | None:
    """An a=crypto value, or None if it is malformed or not of the inline-key form we read."""
    parts = value.split()
    if len(parts) < 3 or not parts[0].isdigit() or not parts[2].startswith("inline:"):
        return None
    key_field, *params = parts[2][len("inline:"):].split("|")
    try:
        key = base64.b64decode(key_field, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(parts) > 3:  # session parameters (UNENCRYPTED_SRTCP, KDR=...): a mode we do not run
        return None
    mki = any(":" in p for p in params)  # "MKI:length"; a lifetime has no colon
    return Crypto(int(parts[0]), parts[1], key, mki)


def choose_crypto(values: list[str]) -> Crypto | None:
    """The offered line we answer: a suite of ours, a 30-byte key, no MKI; ours in SUITES order."""
    usable = [c for c in map(parse_crypto, values)
              if c is not None and c.suite in SUITES and len(c.key) == KEY_SALT_BYTES and not c.mki]
    return min(usable, key=lambda c: SUITES.index(c.suite), default=None)


def new_key() -> bytes:
    return secrets.token_bytes(KEY_SALT_BYTES)
