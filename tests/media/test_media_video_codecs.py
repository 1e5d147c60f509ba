import numpy as np
import pytest

from mcu.media import (
    CorruptVideoError,
    UnsupportedCodecError,
    UnsupportedVideoSizeError,
    VideoFormatError,
    alloc_i420,
    frame_to_planes,
    get_video_decoder,
    get_video_encoder,
    planes_to_frame,
    psnr,
    split_annexb,
    video_encoder_config,
)
from mcu.media.frames import I420
from mcu.media.h264 import NAL_TYPE_IDR, NAL_TYPE_PPS, NAL_TYPE_SLICE, NAL_TYPE_SPS, nal_type
from tests.media.media_helpers import moving_picture, noise_picture

# (codec, width, height, bitrate): sensible rates for each codec at its usual size
ROUND_TRIPS = [
    ("H264", 640, 360, 800_000),
    ("VP8", 640, 360, 800_000),
    ("H263-1998", 640, 360, 1_000_000),
    ("H263", 352, 288, 800_000),
]
DECODERS = ["H264", "VP8", "H263-1998", "H263"]


# --- negative cases first -------------------------------------------------------------------

def test_unknown_video_codec_is_named_error():
    with pytest.raises(UnsupportedCodecError, match="AV1"):
        get_video_encoder("AV1", 640, 360)
    with pytest.raises(UnsupportedCodecError, match="AV1"):
        get_video_decoder("AV1")


def test_h263_refuses_non_standard_size():
    with pytest.raises(UnsupportedVideoSizeError, match="CIF"):
        get_video_encoder("H263", 640, 360)


def test_h263_plus_refuses_unaligned_size():
    with pytest.raises(UnsupportedVideoSizeError, match="multiples of 4"):
        get_video_encoder("H263-1998", 642, 360)


def test_encoder_rejects_planes_of_the_wrong_size():
    enc = get_video_encoder("H264", 640, 360)
    with pytest.raises(VideoFormatError, match="640x360"):
        enc.encode(alloc_i420(320, 180), pts=0)


@pytest.mark.parametrize("name", DECODERS)
def test_empty_access_unit_is_named_error(name):
    dec = get_video_decoder(name)
    with pytest.raises(CorruptVideoError, match="keyframe"):
        dec.decode(b"")
    assert dec.errors == 1 and dec.needs_keyframe


@pytest.mark.parametrize("name", DECODERS)
def test_garbage_is_named_error_counted_and_decoder_recovers(name):
    rng = np.random.default_rng(7)
    dec = get_video_decoder(name)
    garbage = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    if name == "H264":
        garbage = b"\x00\x00\x00\x01\x65" + garbage  # looks like an IDR slice
    for _ in range(3):
        with pytest.raises(CorruptVideoError):
            dec.decode(garbage, keyframe_hint=None)
    assert dec.errors == 3 and dec.needs_keyframe
    codec, w, h, rate = next(rt for rt in ROUND_TRIPS if rt[0] == name)
    enc = get_video_encoder(codec, w, h, bitrate=rate)
    frames = []
    for i in range(3):
        for ef in enc.encode(moving_picture(w, h, i), pts=i * 3000):
            frames += dec.decode(ef.data, ef.keyframe)
    assert len(frames) == 3 and not dec.needs_keyframe


def test_frozen_decoder_drops_non_key_units_until_a_keyframe():
    enc = get_video_encoder("H264", 320, 180)
    units = [enc.encode(moving_picture(320, 180, i), pts=i)[0] for i in range(4)]
    dec = get_video_decoder("H264")
    assert dec.decode(units[1].data, keyframe_hint=False) == []
    assert dec.dropped == 1
    assert len(dec.decode(units[0].data, keyframe_hint=True)) == 1
    assert len(dec.decode(units[1].data, keyframe_hint=False)) == 1


# --- Annex-B splitting -------------------------------------------------------------------------

def test_split_annexb_vectors():
    assert split_annexb(b"") == []
    assert split_annexb(b"\x00\x00") == []
    assert split_annexb(b"\x00\x00\x01") == []
    assert split_annexb(b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce") == [b"\x67\x42",
                                                                          b"\x68\xce"]
    assert split_annexb(b"\x00\x00\x01\x65\x88\x00\x00\x00\x01\x41\x9a") == [b"\x65\x88",
                                                                          b"\x41\x9a"]


# --- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,width,height,bitrate", ROUND_TRIPS)
def test_round_trip_psnr_above_30_db(name, width, height, bitrate):
    enc = get_video_encoder(name, width, height, 30, bitrate)
    dec = get_video_decoder(name)
    scores = []
    for i in range(30):
        src = moving_picture(width, height, i)
        encoded = enc.encode(src, pts=i * 3000)
        assert len(encoded) == 1 and encoded[0].pts == i * 3000  # one in, one out: no delay
        for picture in dec.decode(encoded[0].data, encoded[0].keyframe):
            assert (picture.width, picture.height) == (width, height)
            scores.append(min(psnr(picture.y, src.y), psnr(picture.u, src.u)))
    assert len(scores) == 30
    assert min(scores[3:]) > 30.0, scores


@pytest.mark.parametrize("name,width,height,bitrate", ROUND_TRIPS)
def test_force_keyframe_on_demand_and_periodic_keyint(name, width, height, bitrate):
    enc = get_video_encoder(name, width, height, 30, bitrate, keyint=10)
    flags = [enc.encode(moving_picture(width, height, i), i, force_keyframe=(i == 4))[0].keyframe
             for i in range(16)]
    assert [i for i, k in enumerate(flags) if k] == [0, 4, 14]  # forcing restarts the period


def test_h264_forced_keyframe_is_an_idr_with_parameter_sets():
    enc = get_video_encoder("H264", 640, 360, keyint=0)
    types = []
    for i in range(8):
        ef = enc.encode(moving_picture(640, 360, i), i, force_keyframe=(i == 5))[0]
        types.append({nal_type(n) for n in ef.nals})
    assert NAL_TYPE_IDR in types[5] and {NAL_TYPE_SPS, NAL_TYPE_PPS} <= types[5]
    assert all(t & {NAL_TYPE_IDR} == set() for t in types[1:5] + types[6:])
    assert NAL_TYPE_SLICE in types[6]


def test_h264_mode0_every_nal_fits_1200_bytes_at_720p_noise():
    enc = get_video_encoder("H264", 1280, 720, 30, 4_000_000, packetization_mode=0,
                            profile="constrained-baseline")
    sizes = []
    for i in range(4):
        for ef in enc.encode(noise_picture(1280, 720, i), i):
            sizes += [len(n) for n in ef.nals]
            assert b"".join(ef.nals) != b""
    assert len(sizes) > 100  # really split into many slices
    assert max(sizes) <= 1200


def test_h264_constrained_baseline_sps():
    enc = get_video_encoder("H264", 640, 360, profile="constrained-baseline", level="3.1")
    ef = enc.encode(moving_picture(640, 360, 0), 0)[0]
    sps = next(n for n in ef.nals if nal_type(n) == NAL_TYPE_SPS)
    profile_idc, constraints, level_idc = sps[1], sps[2], sps[3]
    assert profile_idc == 66 and constraints & 0x40 and level_idc == 31


def test_h264_mode1_frame_is_annexb_of_its_nals():
    enc = get_video_encoder("H264", 640, 360)
    ef = enc.encode(moving_picture(640, 360, 0), 0)[0]
    assert ef.data.startswith(b"\x00\x00\x00\x01") or ef.data.startswith(b"\x00\x00\x01")
    assert split_annexb(ef.data) == list(ef.nals)
    assert enc.frames_in == 1 and enc.keyframes_out == 1 and enc.bytes_out == len(ef.data)


def test_config_is_hashable_share_key():
    a = video_encoder_config("h264", 1280, 720, 30, 2_000_000, packetization_mode=0)
    b = video_encoder_config("H264", 1280, 720, 30, 2_000_000, packetization_mode=0)
    c = video_encoder_config("H264", 1280, 720, 30, 2_000_000, packetization_mode=1)
    assert a == b and hash(a) == hash(b) and a != c
    assert len({a, b, c}) == 2


# --- frames <-> planes -----------------------------------------------------------------------------

def test_planes_to_frame_zero_copy_and_copy_paths_agree():
    src = moving_picture(640, 360, 3)
    shared = planes_to_frame(src, zero_copy=True)
    copied = planes_to_frame(I420(src.y.copy(), src.u.copy(), src.v.copy()))
    for a, b in zip(frame_to_planes(shared), frame_to_planes(copied)):
        np.testing.assert_array_equal(a, b)
    src.y[0, 0] ^= 0xFF  # the zero-copy frame really is the caller's memory
    assert frame_to_planes(shared).y[0, 0] == src.y[0, 0]


def test_strided_views_are_copied_correctly():
    big = moving_picture(704, 576, 0)  # crop a 352x288 window: non-contiguous views
    view = I420(big.y[10:298, 20:372], big.u[5:149, 10:186], big.v[5:149, 10:186])
    out = frame_to_planes(planes_to_frame(view))
    for a, b in zip(out, view):
        np.testing.assert_array_equal(a, b)


def test_odd_width_frames_round_trip_through_planes():
    planes = alloc_i420(213, 121, fill=(16, 100, 200))
    out = frame_to_planes(planes_to_frame(planes))
    assert out.y.shape == (121, 213) and out.u.shape == (61, 107)
    assert (out.u == 100).all() and (out.v == 200).all()


def test_decoded_planes_stay_valid_after_later_decodes():
    """Kept pictures (a tile's last good frame) are views into refcounted decoder buffers:
    decoding further units must not overwrite them."""
    enc = get_video_encoder("H264", 320, 180)
    dec = get_video_decoder("H264")
    first = dec.decode(enc.encode(moving_picture(320, 180, 0), 0)[0].data)[0]
    snapshot = first.y.copy()
    for i in range(1, 10):
        dec.decode(enc.encode(moving_picture(320, 180, i * 7), i)[0].data)
    np.testing.assert_array_equal(first.y, snapshot)
