"""G.711 mu-law and A-law tables against libavcodec (PyAV) and the numpy reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mcu import mix
from mcu import mix_reference as ref

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)
LAWS = [
    ("pcm_mulaw", mix.ulaw_encode, mix.ulaw_decode, ref.ulaw_encode, ref.ulaw_decode),
    ("pcm_alaw", mix.alaw_encode, mix.alaw_decode, ref.alaw_encode, ref.alaw_decode),
]
IDS = ["mulaw", "alaw"]


def _pyav_encode(codec: str, pcm: np.ndarray) -> np.ndarray:
    ctx = cast(av.AudioCodecContext, av.CodecContext.create(codec, "w"))
    ctx.sample_rate = 8000
    ctx.format = "s16"
    ctx.layout = "mono"
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    packets = ctx.encode(frame) + ctx.encode(None)
    return np.frombuffer(b"".join(bytes(p) for p in packets), np.uint8)


def _pyav_decode(codec: str, codes: np.ndarray) -> np.ndarray:
    ctx = cast(av.AudioCodecContext, av.CodecContext.create(codec, "r"))
    ctx.sample_rate = 8000
    ctx.layout = "mono"
    frames = ctx.decode(av.Packet(codes.tobytes()))
    return np.concatenate([f.to_ndarray().ravel() for f in frames])


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        (np.zeros(160, np.int32), "int16"),
        (np.zeros((2, 80), np.int16), "1-D"),
        ([0, 1, 2], "numpy array"),
    ],
)
@pytest.mark.parametrize("encode", [mix.ulaw_encode, mix.alaw_encode], ids=IDS)
def test_encode_rejects_bad_input(
    encode: Callable[..., np.ndarray], arg: object, message: str
) -> None:
    with pytest.raises(mix.KernelInputError, match=message):
        encode(arg)


@pytest.mark.parametrize("decode", [mix.ulaw_decode, mix.alaw_decode], ids=IDS)
def test_decode_rejects_bad_input(decode: Callable[..., np.ndarray]) -> None:
    with pytest.raises(mix.KernelInputError, match="uint8"):
        decode(np.zeros(160, np.int8))
    with pytest.raises(mix.KernelInputError, match="out must be"):
        decode(np.zeros(160, np.uint8), out=np.zeros(159, np.int16))


def test_encode_rejects_wrong_out() -> None:
    with pytest.raises(mix.KernelInputError, match="out must be"):
        mix.ulaw_encode(np.zeros(160, np.int16), out=np.zeros(160, np.int8))


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_empty_input_gives_empty_output(law: tuple) -> None:
    _, encode, decode, _, _ = law
    assert encode(np.zeros(0, np.int16)).shape == (0,)
    assert decode(np.zeros(0, np.uint8)).shape == (0,)


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_encode_all_int16_equals_pyav(law: tuple) -> None:
    codec, encode, _, ref_encode, _ = law
    want = _pyav_encode(codec, ALL_PCM)
    np.testing.assert_array_equal(encode(ALL_PCM), want)
    np.testing.assert_array_equal(ref_encode(ALL_PCM), want)


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_decode_all_codes_equals_pyav(law: tuple) -> None:
    codec, _, decode, _, ref_decode = law
    want = _pyav_decode(codec, ALL_CODES)
    np.testing.assert_array_equal(decode(ALL_CODES), want)
    np.testing.assert_array_equal(ref_decode(ALL_CODES), want)


def test_known_g711_codes() -> None:
    # G.711: mu-law 0xFF / A-law 0xD5 is +0; full scale is 0x80 / 0xAA.
    pcm = np.array([0, 32767, -32768], np.int16)
    assert mix.ulaw_encode(pcm).tolist() == [0xFF, 0x80, 0x00]
    assert mix.alaw_encode(pcm).tolist() == [0xD5, 0xAA, 0x2A]
    assert mix.ulaw_decode(np.array([0x80, 0x00], np.uint8)).tolist() == [32124, -32124]
    assert mix.alaw_decode(np.array([0xAA, 0x2A], np.uint8)).tolist() == [32256, -32256]


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_decode_then_encode_is_identity_on_codes(law: tuple) -> None:
    _, encode, decode, _, _ = law
    codes = ALL_CODES.copy()
    back = encode(decode(codes))
    # the two zero codes (+0 and -0) both decode near 0; every other code round-trips
    same = back == codes
    assert same.sum() >= 255


@settings(max_examples=30, deadline=None)
@given(pcm=hnp.arrays(np.int16, st.integers(0, 400)), view_step=st.integers(1, 3))
def test_encode_strided_input_matches_reference(pcm: np.ndarray, view_step: int) -> None:
    view = pcm[::view_step]
    out = np.empty(view.size, np.uint8)
    assert mix.ulaw_encode(view, out=out) is out
    np.testing.assert_array_equal(out, ref.ulaw_encode(view))
    np.testing.assert_array_equal(mix.alaw_encode(view), ref.alaw_encode(view))
