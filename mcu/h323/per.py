"""The one place that touches pycrate: aligned PER encode/decode of H.225.0 and H.245.

pycrate (pycrate_asn1dir.H225 / H245, compiled from H.225.0 v7 and H.245 v13 ASN.1) keeps
each ASN.1 type as a module-level singleton that holds the value being encoded or decoded.
Two threads using one type at once would corrupt each other's value, so every encode and
decode of mcu.h323 must run on one thread (the event loop). The helpers below copy values
out of the singleton at once, so nothing of pycrate's outlives a call.

pycrate raises many kinds of exceptions on bad input (its own, and IndexError, KeyError...);
they are all turned into the caller's error type here.
"""

from __future__ import annotations

from typing import Any

from .errors import AsnError

_types: dict[str, Any] = {}
_patched = False


def _patch_pycrate() -> None:
    """Fixes pycrate 0.8's aligned-PER encoding of SEQUENCE extension additions.

    pycrate encodes the extension additions (open types, X.691 clause 19.7) before it writes
    the extension bitmap, so the first open type is padded against the offset *before* the
    bitmap: whenever the root part does not end on an octet boundary it inserts spurious pad
    bits and a spurious zero octet (Wireshark: "open type length 0"; e.g. a ReleaseComplete
    with a reason and a callIdentifier). This replacement writes the bitmap first, then the
    open types, exactly as X.691 says; the root part is pycrate's code unchanged.
    """
    global _patched
    if _patched:
        return
    from pycrate_asn1rt.asnobj_construct import _CONSTRUCT  # type: ignore[import-untyped]
    from pycrate_asn1rt.codecs import ASN1CodecPER  # type: ignore[import-untyped]
    from pycrate_asn1rt.utils import T_UINT, TYPE_SET  # type: ignore[import-untyped]

    original = _CONSTRUCT._to_per

    def _to_per(self: Any) -> list[Any]:
        if not ASN1CodecPER.ALIGNED or self._ext is None:
            return original(self)
        extended = any(k in self._ext or k[:5] == "_ext_" for k in self._val)
        if not extended:
            return original(self)
        gen: list[Any] = [(T_UINT, 1, 1)]
        ASN1CodecPER._off[-1] += 1
        opt_idents = []
        if self._root_opt:
            opt_len, bitmap = len(self._root_opt), 0
            for i, ident in enumerate(self._root_opt):
                if ident in self._val:
                    if ASN1CodecPER.CANONICAL and self._val[ident] == self._cont[ident]._def:
                        del self._val[ident]
                    else:
                        bitmap += 1 << (opt_len - 1 - i)
                        opt_idents.append(ident)
            gen.append((T_UINT, bitmap, opt_len))
            ASN1CodecPER._off[-1] += opt_len
        root = self._root_canon if self.TYPE == TYPE_SET else self._root
        for ident in root:
            if ident in self._val:
                comp = self._cont[ident]
                parent, comp._parent = comp._parent, self
                comp._val = self._val[ident]
                gen.extend(comp._to_per())
                comp._parent = parent
        # which extension additions (or groups) are present, numbered from 1
        present: list[tuple[int, Any, Any]] = []
        for count, ident in enumerate(self._ext_nest, start=1):
            if isinstance(ident, list):
                group = {i: self._val[i] for i in ident if i in self._val}
                if group:
                    gid = self._ext_ident[next(iter(group))]
                    present.append((count, self._ext_group_obj[gid], group))
            elif ident in self._val:
                present.append((count, self._cont[ident], self._val[ident]))
        unknown = sorted((i for i in self._val if i[:5] == "_ext_"), key=lambda x: int(x[5:]))
        used = {count for count, _, _ in present}
        for ident in unknown:
            index = int(ident[5:])
            if index > len(self._ext_nest) and index not in used:
                present.append((index, None, self._val[ident]))
                used.add(index)
        if not present:
            return gen
        length = max(max(used), len(self._ext_nest))
        if length > 64:
            gen.append((T_UINT, 1, 1))
            ASN1CodecPER._off[-1] += 1
            gen.extend(ASN1CodecPER.encode_intunconst(length - 1, 0))
        else:
            gen.append((T_UINT, length - 1, 7))
            ASN1CodecPER._off[-1] += 7
        gen.append((T_UINT, sum(1 << (length - i) for i in used), length))
        ASN1CodecPER._off[-1] += length
        if ASN1CodecPER._off[-1] % 8:
            gen.extend(ASN1CodecPER.encode_pad())
        for _, comp, value in sorted(present, key=lambda p: p[0]):
            if comp is None:
                gen.extend(ASN1CodecPER.encode_unconst_buf(value))
                continue
            parent, comp._parent = comp._parent, self
            comp._val = value
            gen.extend(ASN1CodecPER.encode_unconst_open(comp))
            comp._parent = parent
        return gen

    _CONSTRUCT._to_per = _to_per
    _patched = True


def _h225_user_information() -> Any:
    obj = _types.get("h225")
    if obj is None:
        _patch_pycrate()
        from pycrate_asn1dir import H225  # type: ignore[import-untyped]  # first use: ~0.25 s

        obj = _types["h225"] = H225.H323_MESSAGES.H323_UserInformation
    return obj


def _h245_message() -> Any:
    obj = _types.get("h245")
    if obj is None:
        _patch_pycrate()
        from pycrate_asn1dir import H245  # type: ignore[import-untyped]

        obj = _types["h245"] = H245.MULTIMEDIA_SYSTEM_CONTROL.MultimediaSystemControlMessage
    return obj


def _h245_open_logical_channel() -> Any:
    obj = _types.get("olc")
    if obj is None:
        _patch_pycrate()
        from pycrate_asn1dir import H245  # type: ignore[import-untyped]

        obj = _types["olc"] = H245.MULTIMEDIA_SYSTEM_CONTROL.OpenLogicalChannel
    return obj


_GETTERS = {
    "h225": _h225_user_information,
    "h245": _h245_message,
    "olc": _h245_open_logical_channel,
}


def encode(kind: str, value: Any, error: type[AsnError]) -> bytes:
    """Aligned PER of `value` for the type `kind` ("h225", "h245", "olc")."""
    obj = _GETTERS[kind]()
    try:
        obj.set_val(value)
        return bytes(obj.to_aper())
    except Exception as exc:  # pycrate raises assorted types; see the module docstring
        raise error(f"cannot encode {kind}: {exc}") from exc


def decode(kind: str, data: bytes, error: type[AsnError]) -> Any:
    """The value (pycrate's dict/tuple form) of the aligned PER `data` for `kind`."""
    if not data:
        raise error(f"empty {kind} PER")
    obj = _GETTERS[kind]()
    try:
        obj.from_aper(data)
        return obj.get_val()
    except Exception as exc:  # pycrate raises assorted types; see the module docstring
        raise error(f"cannot decode {kind}: {exc}") from exc


def warm_up() -> None:
    """Imports the ASN.1 modules now (a shell may call this at start, not mid-call)."""
    for getter in _GETTERS.values():
        getter()
