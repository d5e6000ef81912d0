"""Audio decoding and clip conditioning: decode, mix to mono, resample, normalise, fit.

`load_clip` is the whole pipeline a dataset importer needs:

  clip = load_clip("wolf-growl-1.ogg", sample_rate=16000, length=16384)
  clip  # float32[16384], mono, peak 0.95

Decoding:
- WAV (`.wav`, `.wave`) is read by a small strict RIFF reader in numpy: PCM
  8/16/24/32-bit and IEEE float 32/64, plain or WAVE_FORMAT_EXTENSIBLE.
  `tf.audio.decode_wav` reads only 16-bit PCM and tensorflow-io 0.37 rejects
  some valid 8-bit files (2 of the 40 WAVs of the Wesnoth set), and neither
  says which header field is wrong; the reader here names it.
- FLAC, Ogg (Vorbis, Opus) and MP3 are read by `soundfile` (libsndfile 1.2.2:
  libFLAC, libvorbis, libopus, mpg123). A window of a long file is read
  without decoding what follows it. A FLAC window starts with a seek. An Ogg
  or MP3 window is the tail of one read from the first frame (memory: the
  frames up to the window's end), because libsndfile's seek in those is not
  sample-exact (Vorbis can land a block off, libsndfile issue #885; MP3 gets
  the frames after a seek wrong by up to 0.6), and soundfile seeks to the
  current frame after every read, which breaks a second read of the same
  file the same way (MP3; and Opus returned wrong samples for its last 10
  frames read on their own). Decoded from the start in one read, every frame
  is the full decode's.
- tensorflow-io (`pip install condgan[tfio]`, optional) decodes what
  libsndfile cannot (a variable-bitrate MP3 without a Xing/VBRI header, whose
  length libsndfile under-estimates) if it is installed. It is imported on
  first need and its calls are serialised by a lock (see `_TFIO_LOCK`); the
  rest of `load_clip` runs in parallel in threads.

Every failure is an `AudioError` naming the file and the reason. Decoded audio
is float32 with shape [num_frames, channels], in [-1, 1] for PCM (WAV, FLAC);
lossy codecs ring past full scale on hard edges (a 0.99 square wave decodes
to peaks of 1.32 as Vorbis, 1.25 as MP3, with either decoder) and are returned
as decoded: `normalize` rescales the clip. NaN/Inf samples and empty audio are
errors, silence is not.

Resampling is a polyphase FIR (Kaiser-windowed sinc, the filter and delay
compensation of `scipy.signal.resample_poly`), zero-phase: onsets stay where
they are. `tfio.audio.resample` was not used because its output lags the input
by a rate-dependent 30 to 65 samples and drops the tail.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import mmap
import os
import re
import struct
import threading
from typing import Callable

import numpy as np
import soundfile

SUPPORTED_EXTENSIONS = (".wav", ".wave", ".ogg", ".oga", ".flac", ".mp3")
NORMALIZE_MODES = ("peak", "rms", "none")
FIT_MODES = ("pad", "center", "crop")
DEFAULT_TARGETS = {"peak": 0.95, "rms": 0.1}

# Below this peak a clip counts as silent and is left as it is by `normalize`
# (about -140 dBFS, far under the 16-bit noise floor).
_SILENCE = 1e-7
# Output frames computed per block in `resample`, bounding its memory.
_RESAMPLE_BLOCK = 8192
# scipy.signal.resample_poly's defaults: the filter spans 10 zero crossings of
# the narrower band on each side, Kaiser beta 5.
_HALF_ZERO_CROSSINGS = 10
_KAISER_BETA = 5.0

# WAVE format tags.
_WAVE_PCM = 0x0001
_WAVE_FLOAT = 0x0003
_WAVE_EXTENSIBLE = 0xFFFE
_WAVE_TAG_NAMES = {0x0002: "MS ADPCM", 0x0006: "A-law", 0x0007: "mu-law",
                   0x0011: "IMA ADPCM", 0x0055: "MP3"}


class AudioError(ValueError):
    """A file cannot be used as audio.

    Attributes:
      path: the file.
      reason: what is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a file's header says.

    Attributes:
      path: the file.
      sample_rate: Hz.
      num_frames: samples per channel.
      channels: channel count.
      format: "wav", "ogg", "flac" or "mp3".
    """

    path: str
    sample_rate: int
    num_frames: int
    channels: int
    format: str


# ----------------------------------------------------------------------------
# Decoding.


def info(path: str | os.PathLike) -> AudioInfo:
    """Reads the header of an audio file.

    Args:
      path: a file with one of `SUPPORTED_EXTENSIONS`.

    Returns:
      Its `AudioInfo`.

    Raises:
      AudioError: the file is missing, empty, of an unsupported type, or its
        header is truncated or not audio.
    """
    return _open(path).info


def decode(path: str | os.PathLike, start: int = 0,
           stop: int | None = None) -> tuple[np.ndarray, int]:
    """Decodes an audio file, or the frames [start, stop) of it.

    Args:
      path: a file with one of `SUPPORTED_EXTENSIONS`.
      start: first frame to return, >= 0.
      stop: one past the last frame; None means the end of the file. Clipped
        to the file's length.

    Returns:
      (audio, sample_rate): float32[num_frames, channels] in [-1, 1], and Hz.

    Raises:
      AudioError: the file is missing, empty, of an unsupported type, truncated,
        not audio, has no samples, or has NaN/Inf samples.
    """
    return _read(_open(path), start, stop)


def _read(source: _Source, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, int]:
    path, n = source.info.path, source.info.num_frames
    stop = n if stop is None else min(int(stop), n)
    start = int(start)
    if start < 0 or start > stop:
        raise ValueError(f"{path}: bad frame range [{start}, {stop}) of a {n}-frame file")
    if n == 0:
        raise AudioError(path, "contains no audio samples")
    audio = source.read(start, stop)
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise AudioError(path, f"{bad} samples are NaN or infinite")
    return audio, source.info.sample_rate


class _Source:
    """An opened file: its header, and a reader of frame ranges."""

    def __init__(self, info_: AudioInfo, read: Callable[[int, int], np.ndarray]):
        self.info = info_
        self.read = read


def _open(path: str | os.PathLike) -> _Source:
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise AudioError(path, f"unsupported extension {ext or '(none)'!r}; "
                               f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        raise AudioError(path, "no such file") from None
    except IsADirectoryError:
        raise AudioError(path, "is a directory, not an audio file") from None
    except OSError as e:
        raise AudioError(path, f"cannot read: {e.strerror or e}") from None
    if size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    kind = _sniff(head)
    if kind is None and size < 12:
        raise AudioError(path, f"only {size} bytes, too short for any audio header (truncated?)")
    if kind is None:
        raise AudioError(path, f"not an audio file: starts with {head[:12]!r}, which is no "
                               "WAV, Ogg, FLAC or MP3 signature")
    if kind == "wav":
        return _open_wav(path, size)
    if kind == "wav?":
        raise AudioError(path, "truncated WAV header: the file ends inside its RIFF header")
    return _open_compressed(path, kind, head)


def _sniff(head: bytes) -> str | None:
    """Container type from the first bytes, so the error for a mislabelled file is clear."""
    if head[:4] == b"RIFF":
        return "wav" if head[8:12] == b"WAVE" else ("wav?" if len(head) < 12 else None)
    if head[:4] in (b"RIFX", b"RF64"):
        return "wav"  # _open_wav explains why it cannot read these
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _open_wav(path: str, size: int) -> _Source:
    """Parses the RIFF chunks up to `data`; reads samples on demand."""
    with open(path, "rb") as f:
        riff = f.read(12)
        if riff[:4] != b"RIFF":
            raise AudioError(path, f"{riff[:4].decode('latin-1')} WAV files are not supported; "
                                   "convert to a plain RIFF WAV")
        fmt = None
        data_offset = data_size = None
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"fmt ":
                body = f.read(chunk_size)
                if len(body) < 16 or chunk_size < 16:
                    raise AudioError(path, f"truncated WAV header: the fmt chunk has "
                                           f"{len(body)} of at least 16 bytes")
                fmt = body
            elif chunk_id == b"data":
                data_offset, data_size = f.tell(), chunk_size
                break
            else:
                f.seek(chunk_size, os.SEEK_CUR)
            if chunk_size % 2:  # RIFF chunks are word-aligned.
                f.seek(1, os.SEEK_CUR)
    if fmt is None:
        raise AudioError(path, "truncated or corrupt WAV header: no fmt chunk before the data")
    if data_offset is None:
        raise AudioError(path, "truncated WAV: no data chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _WAVE_EXTENSIBLE:
        if len(fmt) < 26:
            raise AudioError(path, "truncated WAV header: WAVE_FORMAT_EXTENSIBLE fmt chunk "
                                   f"has {len(fmt)} of 40 bytes")
        tag = struct.unpack("<H", fmt[24:26])[0]
    if channels < 1:
        raise AudioError(path, "corrupt WAV header: 0 channels")
    if rate < 1:
        raise AudioError(path, "corrupt WAV header: sample rate 0")
    if tag == _WAVE_PCM and bits in (8, 16, 24, 32):
        dtype = {8: "u1", 16: "<i2", 24: "V3", 32: "<i4"}[bits]
    elif tag == _WAVE_FLOAT and bits in (32, 64):
        dtype = {32: "<f4", 64: "<f8"}[bits]
    else:
        name = _WAVE_TAG_NAMES.get(tag, "unknown")
        raise AudioError(path, f"unsupported WAV encoding: format tag 0x{tag:04x} ({name}), "
                               f"{bits} bits; convert it to PCM or float")
    width = bits // 8
    if block_align != width * channels:
        raise AudioError(path, f"corrupt WAV header: block align {block_align} != "
                               f"{channels} channels x {width} bytes")
    available = size - data_offset
    if data_size > available:
        raise AudioError(path, f"truncated WAV: the data chunk declares {data_size} bytes, "
                               f"the file holds {available}")
    num_frames = data_size // block_align

    def read(start: int, stop: int) -> np.ndarray:
        count = (stop - start) * channels
        with open(path, "rb") as f:
            f.seek(data_offset + start * block_align)
            raw = f.read((stop - start) * block_align)
        if bits == 24:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
            # Sign-extend the little-endian 3-byte samples into the top of an int32.
            x = (b[:, 0].astype(np.int32) << 8 | b[:, 1].astype(np.int32) << 16
                 | b[:, 2].astype(np.int32) << 24)
            x = x.astype(np.float32) / 2.0 ** 31
        else:
            x = np.frombuffer(raw, dtype, count=count)
            x = _to_float(x)
        return x.reshape(-1, channels)

    return _Source(AudioInfo(path, int(rate), int(num_frames), int(channels), "wav"), read)


def _to_float(x: np.ndarray) -> np.ndarray:
    """Integer PCM of any width -> float32 in [-1, 1)."""
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    if x.dtype == np.int32:
        return (x.astype(np.float64) / 2.0 ** 31).astype(np.float32)
    return x.astype(np.float32)


# ----------------------------------------------------------------------------
# FLAC, Ogg and MP3: soundfile, and tensorflow-io for what it cannot read.

# The decoders of compressed files, in the order they are tried.
BACKENDS = ("soundfile", "tfio")
# One of BACKENDS to use that decoder alone (tests set it); None: soundfile,
# then tensorflow-io, if installed, for a file soundfile cannot read.
_FORCE_BACKEND: str | None = None

# libsndfile reports a failed open through a process-wide error code, which a
# concurrent open can overwrite (soundfile then says "Garbled error message"):
# opens take this lock so that each failure carries its own reason. Reads use
# the handle's own error state and run in parallel.
_SF_OPEN_LOCK = threading.Lock()
# Formats whose libsndfile 1.2.2 seek returns the same samples as a full
# decode (measured). In Ogg and MP3 it does not, and soundfile seeks to the
# current frame after every read, so even a second read of one handle can go
# wrong: a window of those is the tail of one read from frame 0.
_EXACT_SEEK_FORMATS = ("FLAC",)
# The reason given for a compressed file that opens as 0 frames: an Ogg file
# cut inside its last page opens so, in both decoders.
_NO_FRAMES = "0 frames (an empty stream, or a file cut short)"


class _CannotDecode(Exception):
    """A decoder cannot open a file.

    Attributes:
      reason: why, in words.
      damage: whether a truncated or corrupt file is a likely cause.
    """

    def __init__(self, reason: str, damage: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.damage = damage


def _import_tfio():
    """tensorflow_io; ImportError when it is not installed (the optional extra condgan[tfio])."""
    import tensorflow_io  # noqa: PLC0415 - optional (condgan[tfio]); loads TF, only for files that need it
    return tensorflow_io


def _open_compressed(path: str, kind: str, head: bytes) -> _Source:
    if _FORCE_BACKEND not in (None, *BACKENDS):
        raise ValueError(f"unknown audio backend {_FORCE_BACKEND!r}; choose one of {BACKENDS}")
    failures = []  # (decoder, _CannotDecode)

    def error(hint: str = "") -> AudioError:
        reasons = "; ".join(f"{name}: {e.reason}" for name, e in failures)
        damage = " (truncated or corrupt?)" if all(e.damage for _, e in failures) else ""
        return AudioError(path, f"cannot decode as {kind}: {reasons}{damage}{hint}")

    if _FORCE_BACKEND in (None, "soundfile"):
        try:
            return _open_soundfile(path, kind)
        except _CannotDecode as e:
            failures.append(("libsndfile", e))
    if _FORCE_BACKEND in (None, "tfio"):
        try:
            tfio = _import_tfio()
        except ImportError:
            if _FORCE_BACKEND == "tfio":
                raise AudioError(path, "the tfio decoder was asked for, but tensorflow-io is not "
                                       "installed (pip install condgan[tfio])") from None
            hint = ""
            if _tfio_may_read(kind, head):
                hint = "; tensorflow-io, not installed here, may read it: pip install condgan[tfio]"
            raise error(hint) from None
        try:
            return _open_tfio(path, kind, tfio)
        except _CannotDecode as e:
            failures.append(("tensorflow-io", e))
    raise error()


def _tfio_may_read(kind: str, head: bytes) -> bool:
    """Whether tensorflow-io 0.37 decodes this kind of stream: FLAC, MP3, Ogg Vorbis (not Opus)."""
    # An Ogg file's first page header is 28 bytes (with one segment); its
    # packet starts with the codec's signature.
    return kind in ("flac", "mp3") or (kind == "ogg" and head[28:35] == b"\x01vorbis")


def _sf_message(e: Exception) -> str:
    """libsndfile's own words, without soundfile's "Error opening '<path>': " prefix."""
    message = getattr(e, "error_string", None) or str(e)
    message = re.sub(r"^Error\s*:\s*", "", message.strip()).rstrip(".")
    if "does not exist or is not a regular file" in message:
        # libsndfile's text for mpg123 failing to open the stream; the file
        # exists (`_open` read it), so that text would mislead.
        message = "found no MPEG audio stream it can decode"
    return message


def _check_stream(num_frames: int, channels: int, rate: int) -> None:
    """Refuses a decoder's stream of no channels, no sample rate or no frames."""
    if channels < 1:
        raise _CannotDecode("corrupt header: 0 channels")
    if rate < 1:
        raise _CannotDecode("corrupt header: sample rate 0")
    if num_frames == 0:
        raise _CannotDecode(_NO_FRAMES)


def _open_soundfile(path: str, kind: str) -> _Source:
    try:
        with _SF_OPEN_LOCK:
            f = soundfile.SoundFile(path)
    except (soundfile.SoundFileError, RuntimeError, OSError) as e:
        raise _CannotDecode(_sf_message(e)) from None
    with f:
        num_frames, channels, rate, fmt = f.frames, f.channels, f.samplerate, f.format
    _check_stream(num_frames, channels, rate)
    if fmt == "MP3":
        try:
            stream_frames = _untagged_mpeg_frames(path)
        except (OSError, ValueError):  # it opened a moment ago; libsndfile's count stands
            stream_frames = None
        if stream_frames is not None and stream_frames > num_frames:
            raise _CannotDecode(
                f"it would decode only {num_frames} of the {stream_frames} frames of this "
                "variable-bitrate MP3, which has no Xing/VBRI header: libsndfile estimates "
                "its length from the first frame's bitrate", damage=False)
        if stream_frames is not None:
            # No header, constant bitrate: libsndfile's estimate is a little
            # long; the frame count is exact (nothing is trimmed without a header).
            num_frames = stream_frames
    exact_seek = fmt in _EXACT_SEEK_FORMATS

    def read(start: int, stop: int) -> np.ndarray:
        want = stop - start
        if want <= 0:
            return np.zeros([0, channels], np.float32)
        try:
            with _SF_OPEN_LOCK:
                g = soundfile.SoundFile(path)
            with g:
                if exact_seek:
                    g.seek(start)
                    x = g.read(want, dtype="float32", always_2d=True)
                else:  # one read from frame 0: see _EXACT_SEEK_FORMATS
                    x = g.read(stop, dtype="float32", always_2d=True)[start:].copy()
        except (soundfile.SoundFileError, RuntimeError, OSError) as e:
            raise AudioError(path, f"cannot decode frames {start}..{stop} of {kind}: libsndfile: "
                                   f"{_sf_message(e)} (truncated or corrupt file?)") from None
        if len(x) < want:
            raise AudioError(path, f"truncated or corrupt {kind}: the header declares {num_frames} "
                                   f"frames, decoding ends at frame {start + len(x)}")
        return x

    return _Source(AudioInfo(path, int(rate), int(num_frames), int(channels), kind), read)


# MPEG audio frame headers: bitrates in kbps by (MPEG-1?, layer), sample
# rates by version (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5).
_MPEG_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
# What may follow the last frame of an MP3: ID3v1, APEv2, Lyrics3 tags.
_MPEG_TRAILERS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN")


def _mpeg_frame(h: bytes) -> tuple[int, int, int] | None:
    """(bytes, samples per channel, layer) of the MPEG audio frame whose header is h[:4]; None if none."""
    if len(h) < 4 or h[0] != 0xFF or h[1] & 0xE0 != 0xE0:
        return None
    version, layer = (h[1] >> 3) & 3, 4 - ((h[1] >> 1) & 3)
    bitrate_index, rate_index, padding = h[2] >> 4, (h[2] >> 2) & 3, (h[2] >> 1) & 1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, or free format (no length in the header)
    mpeg1 = version == 3
    bitrate = _MPEG_BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384, layer
    samples = 1152 if mpeg1 or layer == 2 else 576
    return samples // 8 * bitrate // rate + padding, samples, layer


def _untagged_mpeg_frames(path: str) -> int | None:
    """Frames per channel of an MP3 without a Xing/Info/VBRI header, counted from its frame headers.

    libsndfile (mpg123) takes an MP3's length from that header when the
    first frame carries one (exact: LAME writes it, with the encoder delay and
    padding mpg123 trims); without it, mpg123 estimates the length from the
    file size and the first frame's bitrate, and libsndfile reads no further.

    Returns:
      The sum of the frames' samples, or None when the first frame has the
      header or the stream is not a clean run of frames (free format, junk).
    """
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        size, pos = len(m), 0
        while m[pos:pos + 3] == b"ID3" and pos + 10 <= size:  # ID3v2 tags
            flags, body = m[pos + 5], m[pos + 6:pos + 10]  # size: 4 x 7 bits
            pos += 10 + (body[0] << 21 | body[1] << 14 | body[2] << 7 | body[3])
            pos += 10 if flags & 0x10 else 0  # a footer
        first = _mpeg_frame(m[pos:pos + 4])
        if first is None:
            return None
        head = m[pos:pos + 4]
        if first[2] == 3:
            mono, mpeg1, crc = head[3] >> 6 == 3, (head[1] >> 3) & 3 == 3, 2 * (not head[1] & 1)
            side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
            xing = pos + 4 + crc + side
            if m[xing:xing + 4] in (b"Xing", b"Info") or m[pos + 36:pos + 40] == b"VBRI":
                return None
        total = 0
        while pos < size:
            frame = _mpeg_frame(m[pos:pos + 4])
            if frame is None:
                return total if m[pos:pos + 11].startswith(_MPEG_TRAILERS) else None
            if pos + frame[0] > size:
                break  # a cut last frame: mpg123 does not decode it
            total += frame[1]
            pos += frame[0]
        return total


# tensorflow-io 0.37's AudioIOTensor keeps its decoder in a resource that every
# AudioIOTensor of the process shares (the op's shared_name is ""): opening a
# second file, in this thread or another, makes the first one read the second
# one's samples. Each use therefore opens and reads under this lock, and no
# AudioIOTensor outlives it.
_TFIO_LOCK = threading.Lock()


def _open_tfio(path: str, kind: str, tfio) -> _Source:
    import tensorflow as tf  # noqa: PLC0415 - only with tensorflow-io (optional): WAV and soundfile need no TF

    def opened():
        try:
            tensor = tfio.audio.AudioIOTensor(path)
            num_frames, channels = (int(v) for v in tensor.shape.numpy())
            return tensor, num_frames, channels, int(tensor.rate.numpy())
        except tf.errors.OpError as e:
            raise _CannotDecode(_tf_message(e)) from None
        except NotImplementedError as e:  # its ops library does not load with this TensorFlow
            raise _CannotDecode(f"its ops do not load here: {str(e).splitlines()[0]}") from None

    with _TFIO_LOCK:
        _, num_frames, channels, rate = opened()
    _check_stream(num_frames, channels, rate)

    def read(start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.zeros([0, channels], np.float32)
        with _TFIO_LOCK:
            try:
                tensor, *_ = opened()
                x = tensor[start:stop].numpy()
            except (tf.errors.OpError, _CannotDecode) as e:
                message = e.reason if isinstance(e, _CannotDecode) else _tf_message(e)
                raise AudioError(path, f"cannot decode frames {start}..{stop} of {kind}: "
                                       f"tensorflow-io: {message} (truncated or corrupt file?)") from None
        x = _to_float(x).reshape(-1, channels)
        if len(x) < stop - start:
            raise AudioError(path, f"truncated or corrupt {kind}: the header declares {num_frames} "
                                   f"frames, decoding ends at frame {start + len(x)}")
        return x

    return _Source(AudioInfo(path, rate, num_frames, channels, kind), read)


def _tf_message(e: Exception) -> str:
    """The useful part of a TF op error: drops the '{{function_node ...}}' and '[Op:...]' noise."""
    message = getattr(e, "message", str(e))
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
    message = re.sub(r"\s*\[Op:[^\]]*\].*", "", message, flags=re.S)
    return message.strip().split("\n")[0]


# ----------------------------------------------------------------------------
# Conditioning.


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Averages the channels.

    Args:
      audio: float32[num_frames, channels], or float32[num_frames] (returned as is).

    Returns:
      float32[num_frames].
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(f"audio must be [num_frames] or [num_frames, channels], got {audio.shape}")
    if audio.shape[1] == 1:
        return audio[:, 0]
    return audio.mean(axis=1, dtype=np.float32)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resamples by the rational factor rate_out / rate_in with a zero-phase polyphase FIR.

    The same filter and alignment as `scipy.signal.resample_poly(audio, up, down)`
    with up/down = rate_out/rate_in in lowest terms: a Kaiser(beta 5) windowed
    sinc of 2 * 10 * max(up, down) + 1 taps, cutoff at the lower Nyquist rate.

    Args:
      audio: float32[num_frames] or float32[num_frames, channels].
      rate_in: Hz of `audio`, >= 1.
      rate_out: Hz wanted, >= 1.

    Returns:
      float32[ceil(num_frames * rate_out / rate_in)] (channels kept).
    """
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in < 1 or rate_out < 1:
        raise ValueError(f"sample rates must be >= 1, got {rate_in} -> {rate_out}")
    audio = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out:
        return audio
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    squeeze = audio.ndim == 1
    x = audio[:, None] if squeeze else audio
    n_in = x.shape[0]
    n_out = -(-n_in * up // down)
    h, half_len = _resample_filter(up, down)
    # Output frame n is sum_t H[p, t] * x[j - t] with m = n * down + half_len the
    # index into the up-sampled, filtered signal, j = m // up and p = m % up.
    taps = -(-len(h) // up)
    poly = np.zeros([up, taps], np.float32)
    for p in range(up):
        phase = h[p::up]
        poly[p, :len(phase)] = phase
    # Zero padding so every gathered index is valid: `taps` before, enough after.
    padded = np.concatenate([np.zeros([taps, x.shape[1]], np.float32), x,
                             np.zeros([half_len // up + 2, x.shape[1]], np.float32)])
    out = np.empty([n_out, x.shape[1]], np.float32)
    t = np.arange(taps)
    for lo in range(0, n_out, _RESAMPLE_BLOCK):
        n = np.arange(lo, min(n_out, lo + _RESAMPLE_BLOCK))
        m = n * down + half_len
        j, p = m // up, m % up
        frames = padded[(j + taps)[:, None] - t[None, :]]  # [block, taps, channels]
        out[lo:lo + len(n)] = np.einsum("nt,ntc->nc", poly[p], frames)
    return out[:, 0] if squeeze else out


@functools.lru_cache(maxsize=32)
def _resample_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """scipy.signal.resample_poly's anti-aliasing filter, gain `up`, and its half length."""
    half_len = _HALF_ZERO_CROSSINGS * max(up, down)
    num_taps = 2 * half_len + 1
    cutoff = 1.0 / max(up, down)  # relative to the up-sampled Nyquist rate
    k = np.arange(num_taps) - half_len
    h = cutoff * np.sinc(cutoff * k) * np.kaiser(num_taps, _KAISER_BETA)
    h *= up / h.sum()
    h = h.astype(np.float32)
    h.flags.writeable = False  # shared by the cache
    return h, half_len


def normalize(audio: np.ndarray, mode: str = "peak", target: float | None = None) -> np.ndarray:
    """Scales a clip to a peak or RMS level; silence is returned unchanged.

    Args:
      audio: float32[...] samples.
      mode: "peak" (max |x| = target), "rms" (root mean square = target, lowered
        if needed so the peak stays <= 1 and nothing clips), or "none".
      target: the level, in (0, 1]; None for `DEFAULT_TARGETS[mode]`.

    Returns:
      float32, same shape.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"unknown normalize mode {mode!r}; choose one of {NORMALIZE_MODES}")
    audio = np.asarray(audio, dtype=np.float32)
    if mode == "none":
        return audio
    target = DEFAULT_TARGETS[mode] if target is None else float(target)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"normalize target must be in (0, 1], got {target}")
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < _SILENCE:
        return audio
    if mode == "peak":
        gain = target / peak
    else:
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        gain = min(target / rms, 1.0 / peak)
    return (audio * gain).astype(np.float32)


def fit_length(audio: np.ndarray, length: int, mode: str = "pad") -> np.ndarray:
    """Pads with zeros or cuts a clip to exactly `length` frames.

    Args:
      audio: float32[num_frames] or float32[num_frames, channels].
      length: frames wanted, >= 1.
      mode: "pad": keep the start (zeros appended, or the end cut off), right
        for one-shot sounds whose onset is at the start; "center": keep the
        middle (zeros or cuts split between both ends); "crop": keep the
        `length`-frame window of highest energy (zeros appended when shorter),
        for long recordings whose event is anywhere.

    Returns:
      float32[length] or float32[length, channels].
    """
    if mode not in FIT_MODES:
        raise ValueError(f"unknown fit mode {mode!r}; choose one of {FIT_MODES}")
    length = int(length)
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    audio = np.asarray(audio, dtype=np.float32)
    n = audio.shape[0]
    if n > length:
        start = {"pad": 0, "center": (n - length) // 2}.get(mode)
        if start is None:
            start = _loudest_window(audio, length)
        return audio[start:start + length]
    before = (length - n) // 2 if mode == "center" else 0
    pad = [(before, length - n - before)] + [(0, 0)] * (audio.ndim - 1)
    return np.pad(audio, pad)


def _loudest_window(audio: np.ndarray, length: int) -> int:
    energy = np.square(audio, dtype=np.float64)
    if energy.ndim > 1:
        energy = energy.sum(axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(energy)])
    window = cumulative[length:] - cumulative[:-length]
    return int(np.argmax(window))


def load_clip(path: str | os.PathLike, sample_rate: int, length: int, fit: str = "pad",
              normalize_mode: str = "peak", target: float | None = None) -> np.ndarray:
    """Decodes a file into one fixed-length mono clip at `sample_rate`.

    decode -> to_mono -> resample -> fit_length -> normalize. With fit "pad" or
    "center", only the frames that can reach the output are decoded, so a clip
    from an hour-long recording costs about as much as one from a short file.

    Args:
      path: an audio file (`SUPPORTED_EXTENSIONS`).
      sample_rate: Hz of the clip, >= 1.
      length: samples of the clip, >= 1.
      fit: a `fit_length` mode.
      normalize_mode: a `normalize` mode.
      target: the `normalize` level; None for its default.

    Returns:
      float32[length].

    Raises:
      AudioError: the file cannot be decoded (see `decode`).
    """
    if sample_rate < 1 or length < 1:
        raise ValueError(f"sample_rate and length must be >= 1, got {sample_rate}, {length}")
    if fit not in FIT_MODES:
        raise ValueError(f"unknown fit mode {fit!r}; choose one of {FIT_MODES}")
    source = _open(path)
    n, rate = source.info.num_frames, source.info.sample_rate
    g = math.gcd(rate, sample_rate)
    up, down = sample_rate // g, rate // g
    # The resampling filter's half length in input frames: how far beyond the
    # kept frames the input still reaches the output.
    reach = -(-_HALF_ZERO_CROSSINGS * max(up, down) // up) + 1
    n_out = -(-n * up // down)
    if fit == "crop" or n_out <= length:
        audio, _ = _read(source)
        clip = fit_length(resample(to_mono(audio), rate, sample_rate), length, fit)
    else:
        # Decode only the window behind output frames [first, first + length).
        # The window starts on a multiple of `down` input frames so that its
        # resampled frames fall exactly on the full file's output frames.
        first = 0 if fit == "pad" else (n_out - length) // 2
        start = max(0, (first * down // up - reach) // down * down)
        offset = first - start * up // down
        stop = start + -(-(offset + length) * down // up) + reach
        audio, _ = _read(source, start, stop)
        clip = resample(to_mono(audio), rate, sample_rate)[offset:offset + length]
        clip = fit_length(clip, length, "pad")  # only if the file ends inside the window
    return normalize(clip, normalize_mode, target)
