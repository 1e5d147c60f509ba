"""HTTP Digest authentication for SIP clients (RFC 2617, RFC 7616 SHA-256, RFC 3261 22)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from mcu.sip.errors import SipParseError
from mcu.sip.headers import _read_quoted

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
QOP_AUTH = "auth"


class UnsupportedChallengeError(SipParseError):
    """A 401/407 challenge that this client cannot answer (scheme, algorithm or qop)."""


@dataclass
class DigestChallenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: list[str] = field(default_factory=list)
    opaque: str | None = None
    stale: bool = False


def parse_auth_params(text: str) -> dict[str, str]:
    """Parse `k=v, k="quoted", ...` into a dict with lower-case keys."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise SipParseError("Malformed authentication parameter list")
        name = text[i:eq].strip().lower()
        j = eq + 1
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == '"':
            value, j = _read_quoted(text, j)
        else:
            end = text.find(",", j)
            end = n if end < 0 else end
            value = text[j:end].strip()
            j = end
        params[name] = value
        i = j
    return params


def parse_challenge(value: str) -> DigestChallenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value; only the Digest scheme is taken."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise UnsupportedChallengeError(f"Unsupported authentication scheme {scheme!r}")
    params = parse_auth_params(rest)
    if "realm" not in params or "nonce" not in params:
        raise UnsupportedChallengeError("Digest challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS:
        raise UnsupportedChallengeError(f"Unsupported digest algorithm {algorithm!r}")
    qop = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    if qop and QOP_AUTH not in qop:
        raise UnsupportedChallengeError(f"Unsupported digest qop {qop!r}: only auth")
    return DigestChallenge(
        realm=params["realm"], nonce=params["nonce"], algorithm=algorithm, qop=qop,
        opaque=params.get("opaque"), stale=params.get("stale", "").lower() == "true",
    )


def _h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def digest_response(
    challenge: DigestChallenge, method: str, uri: str, user: str, password: str,
    nc: int = 1, cnonce: str = "", body: bytes = b"",
) -> str:
    """The `response` value of RFC 2617 3.2.2.1 for the given challenge."""
    alg = challenge.algorithm
    ha1 = _h(alg, f"{user}:{challenge.realm}:{password}")
    ha2 = _h(alg, f"{method}:{uri}")
    if QOP_AUTH in challenge.qop:
        return _h(alg, f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:{QOP_AUTH}:{ha2}")
    return _h(alg, f"{ha1}:{challenge.nonce}:{ha2}")


def authorization_header(
    challenge: DigestChallenge, method: str, uri: str, user: str, password: str,
    nc: int = 1, cnonce: str = "",
) -> str:
    """Value for Authorization / Proxy-Authorization answering `challenge`."""
    response = digest_response(challenge, method, uri, user, password, nc, cnonce)
    parts = [
        f'username="{user}"', f'realm="{challenge.realm}"', f'nonce="{challenge.nonce}"',
        f'uri="{uri}"', f'response="{response}"', f"algorithm={challenge.algorithm}",
    ]
    if QOP_AUTH in challenge.qop:
        parts += [f"qop={QOP_AUTH}", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(parts)


def check_authorization(value: str, method: str, realm: str, password_of: dict[str, str]) -> bool:
    """Server side check (used by tests and a future registrar): True if the digest matches."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return False
    p = parse_auth_params(rest)
    user = p.get("username", "")
    if user not in password_of or p.get("realm") != realm:
        return False
    challenge = DigestChallenge(
        realm=realm, nonce=p.get("nonce", ""), algorithm=p.get("algorithm", "MD5").upper(),
        qop=[p["qop"]] if "qop" in p else [],
    )
    if challenge.algorithm not in ALGORITHMS:
        return False
    nc = int(p.get("nc", "1"), 16)
    expected = digest_response(
        challenge, method, p.get("uri", ""), user, password_of[user], nc, p.get("cnonce", "")
    )
    return expected == p.get("response")
