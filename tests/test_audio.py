"""Tests of condgan.audio: decoding against tf.audio / scipy / the encoded numpy signal,
resampling against scipy.

FLAC, Ogg and MP3 fixtures are written by soundfile (libsndfile's encoders), so
the tests need no tensorflow-io; every decoding test runs under each decoder
path (`backend`), the tensorflow-io ones skipping where it is not installed.
"""

import concurrent.futures
import io
import pathlib
import struct
import sys

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal
import soundfile
import tensorflow as tf

from condgan import audio


def _tone(num_frames, rate, channels=1, freq=440.0, amp=0.5):
    t = np.arange(num_frames) / rate
    x = np.stack([amp * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)], axis=1)
    return x.astype(np.float32)


def _chirp(num_frames, rate, channels=1):
    """A sweep from 200 Hz x channel to 0.3 x Nyquist, 10 ms fades: a lossy codec keeps it
    well, and it has one cross-correlation peak (a tone has one per period)."""
    t = np.arange(num_frames) / rate
    out = []
    for c in range(channels):
        f0, f1 = 200.0 * (c + 1), 0.15 * rate
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t[-1]))
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
        out.append(0.5 * fade * np.sin(phase))
    return np.stack(out, axis=1).astype(np.float32)


def _write_tf_wav(path, x, rate):
    """16-bit PCM WAV written by TensorFlow (an encoder independent of condgan.audio)."""
    pathlib.Path(path).write_bytes(tf.audio.encode_wav(np.asarray(x, np.float32), rate).numpy())
    return str(path)


def _wav_bytes(fmt_fields, data, extra_chunks=b"", fmt_extra=b""):
    """A WAV file from raw parts, for headers no encoder at hand writes."""
    fmt = struct.pack("<HHIIHH", *fmt_fields) + fmt_extra
    body = b"WAVE" + extra_chunks + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


# soundfile (format, subtype) of each codec the tests encode.
CODECS = {"flac": ("FLAC", "PCM_16"), "vorbis": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS"),
          "mp3": ("MP3", "MPEG_LAYER_III")}
SUFFIX = {"flac": ".flac", "vorbis": ".ogg", "opus": ".ogg", "mp3": ".mp3"}


def _encoded(codec, x, rate, **options):
    """The bytes of `x` encoded by libsndfile."""
    buffer = io.BytesIO()
    fmt, subtype = CODECS[codec]
    soundfile.write(buffer, x, rate, format=fmt, subtype=subtype, **options)
    return buffer.getvalue()


def _write(path, codec, x, rate, **options):
    pathlib.Path(path).write_bytes(_encoded(codec, x, rate, **options))
    return str(path)


def _flac_bytes(x, rate):
    return _encoded("flac", np.asarray(x, np.int16), rate)


def _tfio_missing():
    """Why tensorflow-io cannot be imported, or None."""
    try:
        import tensorflow_io  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


# The decoder paths of FLAC/Ogg/MP3 files: each decoder alone, and the default
# (soundfile, then tensorflow-io for what it cannot read) with tensorflow-io
# installed and as if it were not.
BACKENDS = ("soundfile", "tfio", "auto", "auto-no-tfio")


def _use_backend(monkeypatch, backend):
    if backend in ("tfio", "auto") and _tfio_missing():
        pytest.skip(f"tensorflow-io is not installed ({_tfio_missing()}); "
                    "it is the optional extra condgan[tfio]")
    if backend == "auto-no-tfio":
        # What `import tensorflow_io` does where it is not installed: ImportError.
        monkeypatch.setitem(sys.modules, "tensorflow_io", None)
    monkeypatch.setattr(audio, "_FORCE_BACKEND", backend if backend in audio.BACKENDS else None)


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    _use_backend(monkeypatch, request.param)
    return request.param


def _reads(backend, codec):
    """Whether `backend` decodes `codec`: tensorflow-io 0.37 has no Opus decoder."""
    return not (backend == "tfio" and codec == "opus")


def _stripped_info_frame(mp3):
    """An MP3 without its first frame: the Xing/Info frame LAME writes (no audio in it)."""
    h = mp3[:4]
    assert h[0] == 0xFF and h[1] & 0xE0 == 0xE0, "no MPEG frame at the start"
    version, padding = (h[1] >> 3) & 3, (h[2] >> 1) & 1
    bitrates = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
                2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
    bitrate = bitrates[3 if version == 3 else 2][h[2] >> 4] * 1000
    frame = (144 if version == 3 else 72) * bitrate // rates[version][(h[2] >> 2) & 3] + padding
    assert mp3[frame:frame + 2] == mp3[:2], "the next frame does not follow"
    assert b"Xing" in mp3[:frame] or b"Info" in mp3[:frame]
    return mp3[frame:]


# ----------------------------------------------------------------------------
# Decoding.


@pytest.mark.parametrize("channels,rate", [(1, 8000), (2, 44100), (6, 96000)])
def test_pcm16_matches_tf_decode_wav(tmp_path, channels, rate):
    path = _write_tf_wav(tmp_path / "a.wav", _tone(1000, rate, channels), rate)
    got, got_rate = audio.decode(path)
    want, want_rate = tf.audio.decode_wav(tf.io.read_file(path))
    assert got_rate == int(want_rate)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want.numpy())


@pytest.mark.parametrize("dtype,scale", [
    (np.uint8, lambda y: (y.astype(np.float32) - 128) / 128),
    (np.int16, lambda y: y / 32768.0),
    (np.int32, lambda y: y / 2.0 ** 31),
    (np.float32, lambda y: y),
    (np.float64, lambda y: y),
], ids=["uint8", "int16", "int32", "float32", "float64"])
def test_wav_encodings_match_scipy(tmp_path, dtype, scale):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, size=(500, 2), endpoint=True).astype(dtype)
    else:
        x = rng.uniform(-1, 1, size=(500, 2)).astype(dtype)
    path = tmp_path / "a.wav"
    scipy.io.wavfile.write(path, 22050, x)
    got, rate = audio.decode(path)
    ref_rate, ref = scipy.io.wavfile.read(path)
    assert rate == ref_rate
    np.testing.assert_allclose(got, scale(ref).astype(np.float32), atol=1e-7)


def test_24_bit_wav_matches_scipy(tmp_path):
    x = np.random.default_rng(1).integers(-2 ** 23, 2 ** 23, size=(300, 3))
    raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in x.ravel())
    path = tmp_path / "a.wav"
    path.write_bytes(_wav_bytes((1, 3, 48000, 48000 * 9, 9, 24), raw))
    got, _ = audio.decode(path)
    _, ref = scipy.io.wavfile.read(path)  # int32 with the 24 bits in the top bytes
    np.testing.assert_allclose(got, ref / 2.0 ** 31, atol=1e-7)
    np.testing.assert_allclose(got, x / 2.0 ** 23, atol=1e-7)


def test_wav_extensible_header_and_odd_chunks(tmp_path):
    # WAVE_FORMAT_EXTENSIBLE with the PCM sub-format, an odd-sized LIST chunk
    # (padded) before fmt, and an odd-sized 8-bit data chunk: shapes of the two
    # Wesnoth files tensorflow-io cannot read.
    data = bytes(range(101))
    guid = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    ext = struct.pack("<HHI", 22, 8, 0) + guid
    lst = b"LIST" + struct.pack("<I", 5) + b"INFOx\0"
    path = tmp_path / "a.wav"
    path.write_bytes(_wav_bytes((0xFFFE, 1, 11025, 11025, 1, 8), data, lst, ext))
    got, rate = audio.decode(path)
    assert rate == 11025
    np.testing.assert_allclose(got[:, 0], (np.arange(101) - 128) / 128.0)


def test_window_equals_slice_of_full_decode(tmp_path):
    path = _write_tf_wav(tmp_path / "a.wav", _tone(5000, 8000, 2), 8000)
    full, _ = audio.decode(path)
    np.testing.assert_array_equal(audio.decode(path, 1234, 3000)[0], full[1234:3000])
    info = audio.info(path)
    assert (info.num_frames, info.channels, info.sample_rate, info.format) == (5000, 2, 8000, "wav")


@pytest.mark.parametrize("channels,rate", [(1, 8000), (6, 96000)])
def test_flac_is_the_pcm_it_was_encoded_from(tmp_path, backend, channels, rate):
    x = np.random.default_rng(0).integers(-30000, 30000, (2000, channels)).astype(np.int16)
    path = tmp_path / "a.flac"
    path.write_bytes(_flac_bytes(x, rate))
    got, got_rate = audio.decode(path)
    assert got_rate == rate
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x / np.float32(32768))
    np.testing.assert_array_equal(audio.decode(path, 100, 300)[0], got[100:300])
    info = audio.info(path)
    assert (info.num_frames, info.channels, info.sample_rate, info.format) == (2000, channels, rate,
                                                                             "flac")


def _lag(got, want, max_lag=3000):
    """The shift of `got` against `want` (frames, >= 0 if `got` is late) by cross-correlation."""
    a, b = got[:, 0].astype(np.float64), want[:, 0].astype(np.float64)
    corr = scipy.signal.correlate(a, b, mode="full", method="fft")
    lags = np.arange(-len(b) + 1, len(a))
    keep = np.abs(lags) <= max_lag
    return int(lags[keep][np.argmax(corr[keep])])


def _snr_db(got, want):
    return 10 * np.log10(np.sum(want.astype(np.float64) ** 2)
                         / np.sum((got.astype(np.float64) - want) ** 2))


# Measured with libsndfile 1.2.2's encoders on `_chirp` (0.5 s): Vorbis 19.8-32 dB
# (lowest at 44.1-48 kHz), Opus 20-34 dB, MP3 26-39 dB, in either decoder.
# The bounds leave room for other encoder versions, and fail for a wrong
# channel order, a shift of even one frame, or a decoder's garbage.
MIN_SNR_DB = {"vorbis": 15.0, "opus": 15.0, "mp3": 20.0}


@pytest.mark.parametrize("codec,channels,rate", [
    ("vorbis", 1, 8000), ("vorbis", 2, 44100), ("opus", 1, 16000), ("opus", 2, 48000),
    ("mp3", 1, 8000), ("mp3", 2, 22050), ("mp3", 2, 44100)])
def test_lossy_file_is_the_signal_it_was_encoded_from(tmp_path, backend, codec, channels, rate):
    x = _chirp(rate // 2, rate, channels)
    path = _write(tmp_path / ("a" + SUFFIX[codec]), codec, x, rate)
    if not _reads(backend, codec):
        with pytest.raises(audio.AudioError, match="cannot decode as ogg") as info:
            audio.decode(path)
        assert info.value.path == path
        return
    got, got_rate = audio.decode(path)
    # Same length, no delay: the Vorbis and Opus streams and LAME's Info
    # header carry the encoder delay and padding, and both decoders trim them.
    assert (got.shape, got_rate, got.dtype) == (x.shape, rate, np.float32)
    assert _lag(got, x) == 0
    assert _snr_db(got, x) > MIN_SNR_DB[codec]
    for c in range(channels):
        assert np.corrcoef(got[:, c], x[:, c])[0, 1] > 0.99


@pytest.mark.parametrize("codec,rate", [("flac", 44100), ("vorbis", 16000), ("vorbis", 44100),
                                        ("opus", 48000), ("mp3", 16000), ("mp3", 44100)])
def test_window_is_the_slice_of_the_full_decode(tmp_path, backend, codec, rate):
    # libsndfile 1.2.2's seek is not sample-exact in Vorbis (here: windows after
    # ~2.7 s at 16 kHz came 128 frames late) or MP3 (most windows began with
    # wrong samples); decode must return exactly the full decode's frames.
    if not _reads(backend, codec):
        pytest.skip("tensorflow-io has no Opus decoder")
    x = _chirp(rate * 5, rate, 2)
    path = _write(tmp_path / ("a" + SUFFIX[codec]), codec, x, rate)
    full, _ = audio.decode(path)
    assert full.shape == x.shape
    n = len(full)
    for start in (0, 1, 575, 1153, n // 3, n // 2 + 7, n - 4000, n - 1000):
        np.testing.assert_array_equal(audio.decode(path, start, start + 1000)[0],
                                      full[start:start + 1000], err_msg=f"window at {start}")
    np.testing.assert_array_equal(audio.decode(path, n - 10, n + 500)[0], full[n - 10:])


def test_decoders_agree(tmp_path):
    # soundfile (libFLAC, libvorbis, mpg123) against tensorflow-io (libFLAC,
    # libvorbis, minimp3) on the same files.
    if _tfio_missing():
        pytest.skip(f"tensorflow-io is not installed ({_tfio_missing()})")
    x = _chirp(22050, 22050, 2)
    for codec, atol in (("flac", 0.0), ("vorbis", 1e-6), ("mp3", 1e-5)):
        path = _write(tmp_path / ("a" + SUFFIX[codec]), codec, x, 22050)
        decoded = {}
        for backend in ("soundfile", "tfio"):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(audio, "_FORCE_BACKEND", backend)
                decoded[backend] = audio.decode(path)[0]
        np.testing.assert_allclose(decoded["soundfile"], decoded["tfio"], atol=atol, err_msg=codec)


def test_load_clip_window_of_a_long_ogg_matches_full_pipeline(tmp_path, backend):
    x = _chirp(44100 * 6, 44100, 2)
    path = _write(tmp_path / "a.ogg", "vorbis", x, 44100)
    full, rate = audio.decode(path)
    for fit in ("pad", "center"):
        want = audio.normalize(audio.fit_length(
            audio.resample(audio.to_mono(full), rate, 16000), 4096, fit))
        np.testing.assert_allclose(audio.load_clip(path, 16000, 4096, fit=fit), want, atol=1e-5)


# ----------------------------------------------------------------------------
# MP3 without a Xing/Info header: the file soundfile cannot read whole.


def _untagged_mp3(tmp_path, bitrate_mode, rate=22050, channels=2):
    x = _chirp(rate // 2, rate, channels)
    mp3 = _encoded("mp3", x, rate, bitrate_mode=bitrate_mode, compression_level=0.5)
    path = tmp_path / f"untagged-{bitrate_mode.lower()}.mp3"
    path.write_bytes(_stripped_info_frame(mp3))
    return str(path), x


# Without the header nothing is trimmed: the decoders return whole MPEG frames
# (576 samples at 22.05 kHz), the signal 1105 frames late (LAME's 576-frame
# encoder delay and the decoder's 529). Measured with both decoders.
UNTAGGED_DELAY = 1105


@pytest.mark.parametrize("bitrate_mode", ["CONSTANT", "VARIABLE"])
def test_untagged_mp3(tmp_path, backend, bitrate_mode):
    path, x = _untagged_mp3(tmp_path, bitrate_mode)
    if bitrate_mode == "VARIABLE" and backend in ("soundfile", "auto-no-tfio"):
        # libsndfile estimates the length from the first frame's bitrate (low,
        # for the fade-in) and would return a fifth of the file: an error.
        with pytest.raises(audio.AudioError, match="no Xing/VBRI header") as info:
            audio.decode(path)
        assert info.value.path == path
        assert ("pip install condgan[tfio]" in info.value.reason) == (backend == "auto-no-tfio")
        assert "truncated" not in info.value.reason
        return
    got, rate = audio.decode(path)
    assert (rate, got.shape[1]) == (22050, 2)
    # LAME pads the delayed signal to whole frames.
    assert len(got) == -(-(len(x) + UNTAGGED_DELAY) // 576) * 576
    assert _lag(got, x) == UNTAGGED_DELAY
    assert _snr_db(got[UNTAGGED_DELAY:UNTAGGED_DELAY + len(x)], x) > MIN_SNR_DB["mp3"]


def test_untagged_mp3_length_is_counted_from_its_frames(tmp_path):
    # soundfile and tensorflow-io return the same frames of a constant-bitrate
    # MP3 without header; libsndfile's own estimate is 11 frames too long.
    path, _ = _untagged_mp3(tmp_path, "CONSTANT")
    with soundfile.SoundFile(path) as f:
        estimate = f.frames
    assert audio.info(path).num_frames < estimate
    assert audio.info(path).num_frames == len(soundfile.read(path)[0])


# ----------------------------------------------------------------------------
# Broken files.


def _pcm_wav(num_frames=100):
    return _wav_bytes((1, 1, 8000, 16000, 2, 16), b"\x01\x00" * num_frames)


def _float_wav(value):
    return _wav_bytes((3, 1, 8000, 32000, 4, 32), np.array([0.1, value, 0.2], "<f4").tobytes())


# (file name, bytes or a maker of them, words the reason must contain)
BAD_FILES = {
    "zero_byte_wav": ("a.wav", b"", "empty file"),
    "zero_byte_ogg": ("a.ogg", b"", "empty file"),
    "zero_byte_flac": ("a.flac", b"", "empty file"),
    "three_bytes": ("a.wav", b"RIF", "too short"),
    "truncated_riff": ("a.wav", lambda: _pcm_wav()[:10], "truncated"),
    "truncated_fmt": ("a.wav", lambda: _pcm_wav()[:30], "truncated"),
    "no_data_chunk": ("a.wav", lambda: _pcm_wav()[:36], "no data chunk"),
    "truncated_data": ("a.wav", lambda: _pcm_wav()[:100], "truncated"),
    "truncated_flac_header": ("a.flac", lambda: _flac_bytes(np.ones([4000, 1]), 8000)[:20],
                              "cannot decode as flac"),
    "truncated_ogg_header": ("a.ogg", b"OggS" + bytes(40), "cannot decode as ogg"),
    "text_as_wav": ("a.wav", b"hello, this is not audio at all\n" * 10, "not an audio file"),
    "text_as_ogg": ("a.ogg", b"hello, this is not audio at all\n" * 10, "not an audio file"),
    "bytes_as_flac": ("a.flac", bytes(range(7, 250)) * 20, "not an audio file"),
    "png_as_mp3": ("a.mp3", b"\x89PNG\r\n\x1a\n" + bytes(500), "not an audio file"),
    "zero_samples": ("a.wav", lambda: _pcm_wav(0), "no audio samples"),
    "nan_sample": ("a.wav", lambda: _float_wav(np.nan), "NaN or infinite"),
    "inf_sample": ("a.wav", lambda: _float_wav(-np.inf), "NaN or infinite"),
    "adpcm": ("a.wav", lambda: _wav_bytes((0x11, 1, 8000, 4055, 256, 4), bytes(256)),
              "unsupported WAV encoding"),
    "unsupported_extension": ("a.aiff", _pcm_wav, "unsupported extension"),
    "no_extension": ("noext", _pcm_wav, "unsupported extension"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_audio_error_naming_it(tmp_path, case):
    name, content, words = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(content() if callable(content) else content)
    with pytest.raises(audio.AudioError) as info:
        audio.load_clip(path, 16000, 1024)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert words in info.value.reason


def _zeroed_middle(data, count=500):
    mid = len(data) // 2
    return data[:mid] + bytes(count) + data[mid + count:]


def _sample(codec):
    """1 s of stereo chirp at 16 kHz, encoded."""
    return _encoded(codec, _chirp(16000, 16000, 2), 16000)


# Damaged files of each codec: (codec, damage, where it shows, whether the
# error without tensorflow-io names the extra). Where: "open", the decoders
# refuse the file (the error says "cannot decode as <kind>"); "read", they open
# it and decoding ends early or fails; None, it depends on the decoder. The
# extra is named where it could help: the file did not open, and its first
# bytes show a codec tensorflow-io decodes (not Opus, not a page of zeros).
BROKEN = {
    "flac_cut_in_header": ("flac", lambda d: d[:20], "open", True),
    "flac_cut_in_metadata": ("flac", lambda d: d[:44], None, False),
    "flac_cut_in_half": ("flac", lambda d: d[:len(d) // 2], "read", False),
    "flac_zeroed_middle": ("flac", _zeroed_middle, "read", False),
    "vorbis_page_of_zeros": ("vorbis", lambda d: b"OggS" + bytes(40), "open", False),
    "vorbis_cut_in_headers": ("vorbis", lambda d: d[:200], "open", True),
    "vorbis_cut_in_half": ("vorbis", lambda d: d[:len(d) // 2], "open", True),
    "vorbis_cut_in_last_page": ("vorbis", lambda d: d[:-100], "open", True),
    "vorbis_zeroed_middle": ("vorbis", _zeroed_middle, "open", True),
    "opus_cut_in_half": ("opus", lambda d: d[:len(d) // 2], "open", False),
    "mp3_cut_in_first_frame": ("mp3", lambda d: d[:200], "open", True),
    "mp3_cut_in_half": ("mp3", lambda d: d[:len(d) // 2], "read", False),
    "mp3_zeroed_middle": ("mp3", _zeroed_middle, "read", False),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_raises_audio_error_naming_it(tmp_path, backend, case):
    codec, damage, where, hint = BROKEN[case]
    path = tmp_path / ("a" + SUFFIX[codec])
    path.write_bytes(damage(_sample(codec)))
    with pytest.raises(audio.AudioError) as info:
        audio.decode(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert "truncated or corrupt" in info.value.reason
    opened = not info.value.reason.startswith("cannot decode as ")
    if where is not None and _reads(backend, codec):
        assert opened == (where == "read"), info.value.reason
    want_hint = hint and backend == "auto-no-tfio"
    assert ("pip install condgan[tfio]" in info.value.reason) == want_hint, info.value.reason
    # load_clip of the start of the file decodes only the frames it needs:
    # damage further on goes unnoticed, damage in the headers does not.
    if where == "open":
        with pytest.raises(audio.AudioError, match="cannot decode as"):
            audio.load_clip(path, 16000, 1024)


def test_failed_opens_in_threads_keep_their_own_reasons(tmp_path, monkeypatch):
    # libsndfile keeps the reason of a failed open in one process-wide slot.
    monkeypatch.setattr(audio, "_FORCE_BACKEND", "soundfile")
    paths = []
    for case in sorted(BROKEN):
        codec, damage, where, _ = BROKEN[case]
        if where == "open":
            paths.append(tmp_path / (case + SUFFIX[codec]))
            paths[-1].write_bytes(damage(_sample(codec)))

    def reason(path):
        try:
            audio.decode(path)
        except audio.AudioError as e:
            return e.reason
        return None

    want = [reason(p) for p in paths]
    assert len(set(want)) > 3 and None not in want
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(reason, paths * 5)) == want * 5


def test_without_tfio_the_error_names_soundfile_reason_and_the_extra(tmp_path, monkeypatch):
    _use_backend(monkeypatch, "auto-no-tfio")
    path = tmp_path / "a.flac"
    path.write_bytes(_sample("flac")[:20])
    with pytest.raises(soundfile.LibsndfileError) as sf_error:
        soundfile.SoundFile(path)
    with pytest.raises(audio.AudioError) as info:
        audio.decode(path)
    assert info.value.reason == (
        f"cannot decode as flac: libsndfile: {sf_error.value.error_string.rstrip('.')} "
        "(truncated or corrupt?); tensorflow-io, not installed here, may read it: "
        "pip install condgan[tfio]")


def test_forcing_tfio_without_it_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_io", None)
    monkeypatch.setattr(audio, "_FORCE_BACKEND", "tfio")
    path = _write(tmp_path / "a.flac", "flac", _chirp(100, 8000), 8000)
    with pytest.raises(audio.AudioError, match=r"tensorflow-io is not installed \(pip install"):
        audio.decode(path)


def test_missing_file(tmp_path):
    with pytest.raises(audio.AudioError, match="no such file"):
        audio.decode(tmp_path / "nope.wav")


# ----------------------------------------------------------------------------
# Resampling.


@pytest.mark.parametrize("rate_in,rate_out", [
    (44100, 16000), (8000, 16000), (22050, 16000), (96000, 16000), (11025, 16000),
    (16000, 8000), (48000, 44100), (16000, 16000)])
def test_resample_matches_scipy_resample_poly(rate_in, rate_out):
    x = np.random.default_rng(rate_in).standard_normal((rate_in // 10, 2)).astype(np.float32)
    g = np.gcd(rate_in, rate_out)
    want = scipy.signal.resample_poly(x, rate_out // g, rate_in // g, axis=0)
    got = audio.resample(x, rate_in, rate_out)
    assert got.shape == want.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(audio.resample(x[:, 0], rate_in, rate_out), want[:, 0], atol=1e-5)


def test_resampled_sine_is_the_analytic_sine():
    # Independent of scipy: a 1 kHz tone at 44.1 kHz must become the same tone
    # at 16 kHz, in phase (no delay).
    y = audio.resample(_tone(44100, 44100, freq=1000.0)[:, 0], 44100, 16000)
    want = _tone(16000, 16000, freq=1000.0)[:, 0]
    np.testing.assert_allclose(y[200:-200], want[200:-200], atol=2e-3)


def test_resample_removes_content_above_the_new_nyquist():
    x = _tone(48000, 48000, freq=7000.0)[:, 0]  # above 4 kHz: must not alias to 1 kHz
    y = audio.resample(x, 48000, 8000)
    rms_in = 0.5 / np.sqrt(2)
    assert np.sqrt(np.mean(y[100:-100] ** 2)) < rms_in * 10 ** (-40 / 20)


# ----------------------------------------------------------------------------
# Mono, normalisation, length.


def test_to_mono_averages_channels():
    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    np.testing.assert_allclose(audio.to_mono(x), x.mean(axis=1), atol=1e-6)
    np.testing.assert_array_equal(audio.to_mono(x[:, :1]), x[:, 0])
    np.testing.assert_array_equal(audio.to_mono(x[:, 0]), x[:, 0])


def test_normalize_peak():
    x = _tone(1000, 8000)[:, 0] * 0.1
    y = audio.normalize(x, "peak", 0.8)
    assert np.max(np.abs(y)) == pytest.approx(0.8, abs=1e-6)
    np.testing.assert_allclose(y, x * (0.8 / np.max(np.abs(x))), rtol=1e-5)


def test_normalize_rms():
    x = np.random.default_rng(0).uniform(-0.01, 0.01, 4000).astype(np.float32)
    y = audio.normalize(x, "rms", 0.1)
    assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=1e-5)


def test_normalize_rms_never_clips():
    x = np.zeros(10000, np.float32)
    x[5] = 0.5  # crest factor 100: RMS 0.1 would need a peak of 10
    assert np.max(np.abs(audio.normalize(x, "rms", 0.1))) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("mode", ["peak", "rms", "none"])
def test_normalize_leaves_silence_alone(mode):
    with np.errstate(all="raise"):
        y = audio.normalize(np.zeros(100, np.float32), mode)
    np.testing.assert_array_equal(y, np.zeros(100))


def test_normalize_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown normalize mode"):
        audio.normalize(np.ones(3), "loud")
    with pytest.raises(ValueError, match="target"):
        audio.normalize(np.ones(3), "peak", 1.5)


@pytest.mark.parametrize("mode,length,want", [
    ("pad", 8, [1, 2, 3, 4, 5, 0, 0, 0]),
    ("pad", 3, [1, 2, 3]),
    ("center", 9, [0, 0, 1, 2, 3, 4, 5, 0, 0]),
    ("center", 3, [2, 3, 4]),
    ("crop", 7, [1, 2, 3, 4, 5, 0, 0]),
    ("crop", 2, [4, 5]),
    ("pad", 5, [1, 2, 3, 4, 5]),
])
def test_fit_length(mode, length, want):
    np.testing.assert_array_equal(
        audio.fit_length(np.arange(1, 6, dtype=np.float32), length, mode), want)


def test_fit_crop_keeps_the_loudest_window():
    x = np.full(1000, 0.01, np.float32)
    x[700:720] = 0.9
    y = audio.fit_length(x, 100, "crop")
    assert y.shape == (100,)
    assert np.sum(y == np.float32(0.9)) == 20


def test_fit_length_keeps_channels_and_checks_arguments():
    assert audio.fit_length(np.ones((5, 3)), 8, "center").shape == (8, 3)
    with pytest.raises(ValueError, match="length"):
        audio.fit_length(np.ones(5), 0)
    with pytest.raises(ValueError, match="fit mode"):
        audio.fit_length(np.ones(5), 4, "stretch")


# ----------------------------------------------------------------------------
# load_clip.


def test_load_clip_six_channels_96k(tmp_path):
    path = _write_tf_wav(tmp_path / "a.wav", _tone(9600, 96000, 6), 96000)
    clip = audio.load_clip(path, 16000, 2048)
    assert clip.shape == (2048,) and clip.dtype == np.float32
    assert np.max(np.abs(clip)) == pytest.approx(0.95, abs=1e-5)
    want = audio.normalize(audio.fit_length(
        audio.resample(_tone(9600, 96000, 6).mean(axis=1), 96000, 16000), 2048))
    np.testing.assert_allclose(clip, want, atol=1e-3)  # 16-bit quantisation in the file
    assert np.all(clip[1600 + 30:] == 0)  # 0.1 s of sound, then padding


def test_load_clip_silence(tmp_path):
    path = _write_tf_wav(tmp_path / "a.wav", np.zeros([500, 2]), 8000)
    np.testing.assert_array_equal(audio.load_clip(path, 16000, 1024), np.zeros(1024))


@pytest.mark.parametrize("fit", ["pad", "center", "crop"])
def test_load_clip_long_file_window_matches_full_pipeline(tmp_path, fit):
    # 20 s at 44.1 kHz: "pad" and "center" decode only a window, which must
    # give the clip the full decode gives.
    x = np.random.default_rng(2).uniform(-0.4, 0.4, (44100 * 20, 1)).astype(np.float32)
    x[44100 * 13:44100 * 13 + 2000] *= 2  # the loudest part, for "crop"
    path = _write_tf_wav(tmp_path / "a.wav", x, 44100)
    full, rate = audio.decode(path)
    want = audio.normalize(audio.fit_length(audio.resample(full[:, 0], rate, 16000), 4096, fit))
    np.testing.assert_allclose(audio.load_clip(path, 16000, 4096, fit=fit), want, atol=1e-5)


def test_real_wesnoth_files(wesnoth_dir, backend):
    # An Ogg, and the two 8-bit WAVs tensorflow-io 0.37 rejects.
    for name in ("wolf-growl-1.ogg", "horse-canter.wav", "fire.wav"):
        clip = audio.load_clip(wesnoth_dir / name, 16000, 4096)
        assert clip.shape == (4096,)
        assert np.max(np.abs(clip)) == pytest.approx(0.95, abs=1e-5)
    ogg, rate = audio.decode(wesnoth_dir / "wolf-growl-1.ogg")
    assert (rate, ogg.shape[1]) == (44100, 2)
    np.testing.assert_array_equal(audio.decode(wesnoth_dir / "wolf-growl-1.ogg", 1000, 3000)[0],
                                  ogg[1000:3000])
    _, ref = scipy.io.wavfile.read(wesnoth_dir / "horse-canter.wav")
    got, _ = audio.decode(wesnoth_dir / "horse-canter.wav")
    np.testing.assert_array_equal(got[:, 0], (ref.astype(np.float32) - 128) / 128)


def test_files_do_not_leak_into_each_other(tmp_path, backend):
    # tensorflow-io shares one decoder resource between all its AudioIOTensors;
    # decode must still give each file its own samples, interleaved or threaded.
    rng = np.random.default_rng(0)
    paths, want = [], {}
    for i in range(8):
        x = rng.integers(-30000, 30000, (1000 + 100 * i, 1 + i % 2)).astype(np.int16)
        path = tmp_path / f"{i}.flac"
        path.write_bytes(_flac_bytes(x, 8000 + 1000 * i))
        paths.append(str(path))
        want[str(path)] = (x / np.float32(32768), 8000 + 1000 * i)
    first = audio._open(paths[0])
    audio.decode(paths[1])
    np.testing.assert_array_equal(first.read(0, 1000), want[paths[0]][0])
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for path, (got, rate) in zip(paths * 3, pool.map(audio.decode, paths * 3)):
            assert rate == want[path][1]
            np.testing.assert_array_equal(got, want[path][0])
