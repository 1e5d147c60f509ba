import av
import numpy as np
import pytest
from av.audio.frame import AudioFrame

from mcu.media import (
    CorruptAudioError,
    PcmFormatError,
    UnsupportedCodecError,
    g711,
    get_audio_codec,
)
from mcu.media.g711 import PCMA, PCMU, G711Decoder, G711Encoder
from tests.media.media_helpers import peak_frequency, tone

ALL_AUDIO = [("PCMU", 8000), ("PCMA", 8000), ("G722", 8000), ("opus", 48000)]


# --- negative cases first -------------------------------------------------------------------

def test_unknown_codec_is_named_error():
    with pytest.raises(UnsupportedCodecError, match="G729"):
        get_audio_codec("G729", 8000)


def test_wrong_clock_rate_is_refused():
    with pytest.raises(UnsupportedCodecError, match="rtpmap"):
        get_audio_codec("G722", 16000)


@pytest.mark.parametrize("name,rate", ALL_AUDIO)
def test_encoder_rejects_float_and_2d_pcm(name, rate):
    enc = get_audio_codec(name, rate).encoder()
    n = enc.info.frame_samples
    with pytest.raises(PcmFormatError):
        enc.encode(np.zeros(n, dtype=np.float32))
    with pytest.raises(PcmFormatError):
        enc.encode(np.zeros((n, 3), dtype=np.int16))


@pytest.mark.parametrize("name,rate", [("G722", 8000), ("opus", 48000)])
def test_framed_codecs_reject_wrong_frame_length(name, rate):
    enc = get_audio_codec(name, rate).encoder()
    with pytest.raises(PcmFormatError, match="20 ms|samples"):
        enc.encode(np.zeros(enc.info.frame_samples - 2, dtype=np.int16))


@pytest.mark.parametrize("name,rate", ALL_AUDIO)
def test_empty_payload_is_named_error_and_counted(name, rate):
    dec = get_audio_codec(name, rate).decoder()
    with pytest.raises(CorruptAudioError):
        dec.decode(b"")
    assert dec.errors == 1


def test_opus_garbage_is_named_error():
    dec = get_audio_codec("opus", 48000).decoder()
    with pytest.raises(CorruptAudioError):
        dec.decode(bytes([0xFF, 0xFF]))  # code 3 with a truncated frame-count byte
    assert dec.errors == 1


def test_mono_only_codecs_refuse_stereo():
    with pytest.raises(UnsupportedCodecError):
        get_audio_codec("PCMU").encoder(channels=2)


# --- facts -----------------------------------------------------------------------------------

def test_codec_facts():
    assert get_audio_codec("pcmu").info.static_payload_type == 0
    assert get_audio_codec("PCMA").info.static_payload_type == 8
    g722 = get_audio_codec("G722", 8000).info
    assert (g722.sample_rate, g722.clock_rate, g722.frame_samples, g722.frame_timestamp_step) == (
        16000, 8000, 320, 160)
    opus = get_audio_codec("OPUS", 48000).info
    assert (opus.frame_samples, opus.frame_timestamp_step) == (960, 960)


# --- G.711 exactness and the kernel/PyAV switch ----------------------------------------------

def _pyav_reference(codec: str, pcm: np.ndarray) -> bytes:
    ctx = av.CodecContext.create(codec, "w")
    ctx.sample_rate, ctx.format, ctx.layout = 8000, "s16", "mono"
    ctx.open()
    frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    return b"".join(bytes(p) for p in ctx.encode(frame))


def _ulaw_decode_reference(code: np.ndarray) -> np.ndarray:
    """ITU-T G.711 mu-law expansion."""
    u = ~code.astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 7, u & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def _alaw_decode_reference(code: np.ndarray) -> np.ndarray:
    """ITU-T G.711 A-law expansion."""
    a = code.astype(np.int32) ^ 0x55
    exponent, mantissa = (a >> 4) & 7, a & 0x0F
    mag = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(a & 0x80, mag, -mag).astype(np.int16)


def test_kernel_switch_follows_mcu_mix():
    try:
        from mcu.mix import ulaw_encode  # noqa: F401
        expected = True
    except ImportError:
        expected = False
    assert g711.KERNELS_AVAILABLE is expected
    assert G711Encoder(PCMU).uses_kernels is expected
    assert G711Decoder(PCMA).uses_kernels is expected
    assert G711Encoder(PCMU, use_kernels=False).uses_kernels is False


ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


@pytest.mark.parametrize("use_kernels", [None, False])  # None: whichever path is active
@pytest.mark.parametrize("info,codec", [(PCMU, "pcm_mulaw"), (PCMA, "pcm_alaw")])
def test_g711_encode_is_bit_exact_with_pyav_over_every_sample(info, codec, use_kernels):
    enc = G711Encoder(info, use_kernels)
    assert enc.encode(ALL_INT16) == _pyav_reference(codec, ALL_INT16)


@pytest.mark.parametrize("use_kernels", [None, False])
@pytest.mark.parametrize("info,ref", [(PCMU, _ulaw_decode_reference),
                                      (PCMA, _alaw_decode_reference)])
def test_g711_decode_matches_itu_expansion_for_every_code(info, ref, use_kernels):
    dec = G711Decoder(info, use_kernels)
    out = dec.decode(ALL_CODES)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, ref(np.frombuffer(ALL_CODES, dtype=np.uint8)))


@pytest.mark.parametrize("info", [PCMU, PCMA])
def test_g711_encode_of_a_decoded_code_gives_the_code_back(info):
    codes = np.frombuffer(ALL_CODES, dtype=np.uint8)
    if info is PCMU:
        codes = codes[codes != 0x7F]  # mu-law "negative zero" re-encodes as 0xFF
    pcm = G711Decoder(info).decode(codes.tobytes())
    assert G711Encoder(info).encode(pcm) == codes.tobytes()


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("name,rate", ALL_AUDIO)
@pytest.mark.parametrize("freq", [440.0, 1000.0])
def test_tone_survives_round_trip(name, rate, freq):
    codec = get_audio_codec(name, rate)
    enc, dec = codec.encoder(), codec.decoder()
    n, sr = codec.info.frame_samples, codec.info.sample_rate
    frames = 25
    out = []
    for i in range(frames):
        payload = enc.encode(tone(freq, sr, n, start=i * n))
        assert payload
        pcm = dec.decode(payload)
        assert pcm.dtype == np.int16 and pcm.ndim == 1
        out.append(pcm)
    received = np.concatenate(out)[n * 5 :]  # skip codec start-up
    assert received.size == n * (frames - 5)
    assert abs(peak_frequency(received, sr) - freq) <= 2 * sr / received.size
    rms = np.sqrt(np.mean(received.astype(np.float64) ** 2))
    assert 8000 / np.sqrt(2) * 0.5 < rms < 8000 / np.sqrt(2) * 1.5


def test_opus_stereo_input_decodes_to_mono_with_both_channels():
    codec = get_audio_codec("opus", 48000)
    enc, dec = codec.encoder(channels=2), codec.decoder()
    n = 960
    out = []
    for i in range(20):
        left, right = tone(440, 48000, n, 6000, i * n), tone(1500, 48000, n, 6000, i * n)
        out.append(dec.decode(enc.encode(np.stack([left, right], axis=1))))
    pcm = np.concatenate(out[5:])
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(pcm.size)))
    freqs = np.fft.rfftfreq(pcm.size, 1 / 48000)
    noise = np.median(spectrum)
    for f in (440, 1500):
        assert spectrum[np.argmin(np.abs(freqs - f))] > 100 * noise


def test_opus_mono_encoder_downmixes_stereo_input():
    enc = get_audio_codec("opus").encoder(channels=1)
    stereo = np.stack([tone(440, 48000, 960)] * 2, axis=1)
    assert enc.encode(stereo)


# --- concealment -----------------------------------------------------------------------------

@pytest.mark.parametrize("name,rate", [("PCMU", 8000), ("G722", 8000)])
def test_repeat_and_fade_conceal_fades_to_silence(name, rate):
    codec = get_audio_codec(name, rate)
    enc, dec = codec.encoder(), codec.decoder()
    n = codec.info.frame_samples
    before = silence = None
    for i in range(5):
        before = dec.decode(enc.encode(tone(440, codec.info.sample_rate, n, start=i * n)))
    levels = []
    for _ in range(5):
        silence = dec.conceal(n)
        assert silence.shape == (n,) and silence.dtype == np.int16
        levels.append(np.abs(silence).max())
    assert levels[0] > 0.5 * np.abs(before).max()
    assert levels[0] > levels[1] > levels[2] and levels[-1] == 0
    assert dec.concealed == 5


def test_conceal_before_any_packet_is_silence():
    dec = get_audio_codec("PCMA").decoder()
    assert not dec.conceal(160).any()


def test_opus_conceal_uses_plc_and_continues_the_tone():
    codec = get_audio_codec("opus", 48000)
    enc, dec = codec.encoder(), codec.decoder()
    for i in range(10):
        dec.decode(enc.encode(tone(440, 48000, 960, start=i * 960)))
    plc = dec.conceal(960)
    assert plc.shape == (960,)
    assert np.abs(plc).max() > 2000  # extrapolated, not silence
    assert abs(peak_frequency(plc, 48000) - 440) < 100
