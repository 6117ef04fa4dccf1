"""Encoding mastered float frames to the delivery formats: WAV, FLAC, MP3 and Ogg Vorbis.

Every format is written by libsndfile (through soundfile) into an in-memory buffer, at the
input's sample rate, mono or stereo.

Integer formats (WAV and FLAC, 16 and 24 bit) are quantised here, not by libsndfile:

1. TPDF dither of +-1 LSB peak: the sum of two independent uniform(-1/2, 1/2) LSB values,
   drawn from numpy's PCG64 seeded with `dither_seed`, so one seed gives one file. TPDF dither
   makes the first two moments of the total error independent of the signal (Lipshitz,
   Wannamaker and Vanderkooy, "Quantization and Dither: A Theoretical Survey", JAES 40(5),
   1992): the error is white with power LSB^2/6 (dither) + LSB^2/12 (rounding) = LSB^2/4
   and no distortion products, however quiet the music.
2. Rounding to the nearest integer at full scale 2^(bits-1) (the scale `voidline.audio.decode`
   divides by, so a decode gives back the dithered values exactly), clipped to the integer
   range [-2^(bits-1), 2^(bits-1) - 1].
3. Written as integers: int16 for 16 bit; int32 holding the 24-bit value in its top three
   bytes for 24 bit (libsndfile keeps the top 24 bits of an int, so that write is exact).
   libsndfile therefore does no conversion of its own. Given floats it would scale them by
   2^(bits-1), round and clip, all without dither (measured: 0.5 -> 16384, 1.5 -> 32767).

The 32-bit float WAV stores the float32 samples as they are: no dither, no clipping (values
beyond full scale survive for later processing).

Lossy formats, at the highest quality libsndfile 1.2.2 offers:

* MP3: LAME through libsndfile, constant bitrate at compression level 0, the largest bitrate
  of the MPEG version the rate belongs to: 320 kbit/s at 32/44.1/48 kHz (MPEG-1), 160 kbit/s
  at 16/22.05/24 kHz (MPEG-2) and 64 kbit/s at 8/11.025/12 kHz (MPEG-2.5). MPEG audio has no
  other rates: any other rate is refused with InvalidInputError (resampling is the caller's
  decision; WAV and FLAC keep any rate, Ogg any up to 200 kHz). LAME is the slow one: about
  10 s for a 3-minute stereo track on this project's 2-core test machine.
* Ogg Vorbis: libvorbis' variable bitrate at quality 1.0 (compression level 0), about
  250-290 kbit/s for stereo music at 44.1/48 kHz and 150-160 kbit/s for mono. libvorbis'
  encoder has setups up to 200 kHz (a higher rate crashes the process inside libvorbis), so
  higher rates are refused.

Length: libsndfile decodes both lossy formats to exactly the input's frame count: LAME writes
its encoder delay (576 frames) and padding into the Info/LAME tag, which mpg123 uses for
gapless decoding, and Vorbis pages carry granule positions. Decoders that ignore the LAME tag
return the encoder and decoder delays (576 + 529 frames) more at the start and LAME's padding
(under two 1152-frame granules) more at the end.

Determinism: one seed gives byte-identical WAV, FLAC and MP3 files. Ogg files differ in the
stream serial number libsndfile draws at random (and so in the page checksums); their audio
is identical.

Frames go to libsndfile in blocks of WRITE_BLOCK_FRAMES: a single write of about 50 s of
stereo or more crashes libsndfile 1.2.2's Vorbis encoder (a segmentation fault).

Zero frames give a valid, empty file in every format. libsndfile writes nothing at all for an
empty FLAC or MP3 (its encoders start on the first write), so those two are built here: a
FLAC stream that is only the STREAMINFO block (RFC 9639 section 8.2), and a one-sample MP3
whose LAME-tag padding is raised by one so that a gapless decoder returns no samples.
"""

from __future__ import annotations

import enum
import hashlib
import io
import struct

import numpy as np
import soundfile
from numpy.typing import ArrayLike, NDArray

from voidline.audio.decode import check_finite
from voidline.audio.format import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ, Encoding
from voidline.errors import InvalidInputError

MAX_CHANNELS = 2
MP3_SAMPLE_RATES_HZ = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
VORBIS_MAX_SAMPLE_RATE_HZ = 200_000
WRITE_BLOCK_FRAMES = 1 << 16
QUANTISE_BLOCK_SAMPLES = 1 << 17  # dither and rounding work in blocks of this many samples
HIGHEST_QUALITY = 0.0  # libsndfile's compression level: 0 is the best quality / lowest loss


class OutputFormat(enum.Enum):
    """A delivery format; the value is the name `parse_output_format` accepts."""

    WAV16 = "wav16"
    WAV24 = "wav24"
    F32 = "f32"
    FLAC16 = "flac16"
    FLAC24 = "flac24"
    MP3 = "mp3"
    OGG = "ogg"

    @property
    def extension(self) -> str:
        """File name extension without the dot."""
        return _EXTENSIONS[self]

    @property
    def mime_type(self) -> str:
        """Media type: audio/wav, audio/flac (RFC 9639), audio/mpeg (RFC 3003), audio/ogg."""
        return _MIME_TYPES[self]

    @property
    def lossy(self) -> bool:
        """True for MP3 and Ogg Vorbis: a decode does not give back the encoded samples."""
        return self in (OutputFormat.MP3, OutputFormat.OGG)

    @property
    def bit_depth(self) -> int | None:
        """Bits per stored sample (16, 24, 32 for float), None for the lossy codecs."""
        return _BIT_DEPTHS.get(self)


_EXTENSIONS = {
    OutputFormat.WAV16: "wav",
    OutputFormat.WAV24: "wav",
    OutputFormat.F32: "wav",
    OutputFormat.FLAC16: "flac",
    OutputFormat.FLAC24: "flac",
    OutputFormat.MP3: "mp3",
    OutputFormat.OGG: "ogg",
}
_MIME_TYPES = {
    OutputFormat.WAV16: "audio/wav",
    OutputFormat.WAV24: "audio/wav",
    OutputFormat.F32: "audio/wav",
    OutputFormat.FLAC16: "audio/flac",
    OutputFormat.FLAC24: "audio/flac",
    OutputFormat.MP3: "audio/mpeg",
    OutputFormat.OGG: "audio/ogg",
}
_BIT_DEPTHS = {
    OutputFormat.WAV16: 16,
    OutputFormat.WAV24: 24,
    OutputFormat.F32: 32,
    OutputFormat.FLAC16: 16,
    OutputFormat.FLAC24: 24,
}
# libsndfile (major format, subtype) of each output format.
_SOUNDFILE_TYPES = {
    OutputFormat.WAV16: ("WAV", "PCM_16"),
    OutputFormat.WAV24: ("WAV", "PCM_24"),
    OutputFormat.F32: ("WAV", "FLOAT"),
    OutputFormat.FLAC16: ("FLAC", "PCM_16"),
    OutputFormat.FLAC24: ("FLAC", "PCM_24"),
    OutputFormat.MP3: ("MP3", "MPEG_LAYER_III"),
    OutputFormat.OGG: ("OGG", "VORBIS"),
}
_NAMES = {
    "wav24": OutputFormat.WAV24,
    "wav16": OutputFormat.WAV16,
    "f32": OutputFormat.F32,
    "flac": OutputFormat.FLAC24,
    "flac16": OutputFormat.FLAC16,
    "flac24": OutputFormat.FLAC24,
    "mp3": OutputFormat.MP3,
    "ogg": OutputFormat.OGG,
}


def parse_output_format(name: str) -> OutputFormat:
    """The format called name (case-insensitive); "flac" means 24-bit FLAC."""
    found = _NAMES.get(name.strip().lower())
    if found is None:
        raise InvalidInputError(
            f"unknown output format {name!r}; choose one of {', '.join(_NAMES)}"
        )
    return found


def check_encodable(fs: int, fmt: OutputFormat) -> None:
    """Raise InvalidInputError unless fmt can carry sample rate fs (call before heavy work)."""
    if isinstance(fs, bool) or not isinstance(fs, int | np.integer):
        raise InvalidInputError(f"fs must be a whole number of Hz, got {fs!r}")
    if not MIN_SAMPLE_RATE_HZ <= fs <= MAX_SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"fs must lie within {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz, got {fs}"
        )
    if fmt is OutputFormat.MP3 and fs not in MP3_SAMPLE_RATES_HZ:
        rates = ", ".join(f"{rate:g}" for rate in MP3_SAMPLE_RATES_HZ)
        raise InvalidInputError(
            f"MP3 cannot carry {fs} Hz audio; MPEG audio supports only {rates} Hz. Resample "
            "the input to one of those, or choose WAV, FLAC or OGG, which keep the rate"
        )
    if fmt is OutputFormat.OGG and fs > VORBIS_MAX_SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"Ogg Vorbis cannot carry {fs} Hz audio (libvorbis encodes up to "
            f"{VORBIS_MAX_SAMPLE_RATE_HZ} Hz); resample the input or choose FLAC or WAV"
        )


def tpdf_quantise(audio: ArrayLike, bits: int, dither_seed: int = 0) -> NDArray[np.int32]:
    """Float frames (full scale 1.0) as dithered integers of the given bit depth.

    TPDF dither of +-1 LSB (two independent uniform(-1/2, 1/2) LSB values added), rounding,
    and clipping to [-2^(bits-1), 2^(bits-1) - 1]; see the module docstring.
    """
    if bits not in (16, 24):
        raise InvalidInputError(f"bits must be 16 or 24, got {bits}")
    samples = np.asarray(audio, dtype=np.float64)
    scale = float(2 ** (bits - 1))
    # The dither is uniform(0, 1) - uniform(0, 1): the first samples.size draws of PCG64
    # seeded with dither_seed, minus the next samples.size. A second generator advanced by
    # samples.size yields the latter, so the work goes in blocks of frames (no whole-signal
    # temporaries) with the numbers of drawing both whole arrays one after the other.
    first = np.random.Generator(np.random.PCG64(dither_seed))
    second = np.random.Generator(np.random.PCG64(dither_seed).advance(samples.size))
    out = np.empty(samples.shape, dtype=np.int32)
    per_frame = int(np.prod(samples.shape[1:], dtype=np.int64))  # channels (1 for 1-D)
    step = max(1, QUANTISE_BLOCK_SAMPLES // max(1, per_frame))
    for start in range(0, samples.shape[0], step):
        block = samples[start : start + step]
        values = first.random(block.shape)
        values -= second.random(block.shape)
        values += block * scale
        np.rint(values, out=values)
        np.clip(values, -scale, scale - 1.0, out=values)
        out[start : start + step] = values
    return out


def _checked_frames(audio: ArrayLike) -> NDArray[np.float64]:
    frames = np.asarray(audio, dtype=np.float64)
    if frames.ndim != 2 or not 1 <= frames.shape[1] <= MAX_CHANNELS:
        raise InvalidInputError(
            f"audio must have shape (frames, channels) with 1-{MAX_CHANNELS} channels, got "
            f"shape {frames.shape}; downmix to stereo first"
        )
    check_finite(frames)
    return frames


def encode(audio: ArrayLike, fs: int, fmt: OutputFormat, dither_seed: int = 0) -> bytes:
    """Encode float frames (frames, channels), full scale 1.0, at sample rate fs as fmt.

    1-2 channels, any frame count (zero gives a valid empty file). dither_seed makes the TPDF
    dither of the integer formats reproducible. Raises InvalidInputError for non-finite
    samples, more than two channels, or a rate the format cannot carry (`check_encodable`).
    """
    frames = _checked_frames(audio)
    check_encodable(fs, fmt)
    fs = int(fs)
    major, subtype = _SOUNDFILE_TYPES[fmt]
    channels = frames.shape[1]
    if frames.shape[0] == 0:
        if fmt in (OutputFormat.FLAC16, OutputFormat.FLAC24):
            return _empty_flac(fs, channels, _BIT_DEPTHS[fmt])
        if fmt is OutputFormat.MP3:
            return _empty_mp3(fs, channels)

    data: NDArray[np.generic]
    options: dict[str, float | str] = {}
    if fmt in (OutputFormat.WAV16, OutputFormat.FLAC16):
        data = tpdf_quantise(frames, 16, dither_seed).astype(np.int16)
    elif fmt in (OutputFormat.WAV24, OutputFormat.FLAC24):
        # libsndfile's 24-bit write keeps an int32's top three bytes.
        data = tpdf_quantise(frames, 24, dither_seed)
        np.left_shift(data, 8, out=data)
    elif fmt is OutputFormat.F32:
        with np.errstate(over="ignore"):
            single = frames.astype(np.float32)
        check_finite(single)  # beyond float32's range (about 3.4e38) would be stored as Inf
        data = single
    else:
        data = frames
        options["compression_level"] = HIGHEST_QUALITY
        if fmt is OutputFormat.MP3:
            options["bitrate_mode"] = "CONSTANT"
    return _write(data, fs, major, subtype, options)


def _write(
    data: NDArray[np.generic], fs: int, major: str, subtype: str, options: dict[str, float | str]
) -> bytes:
    """Write data (frames, channels) in blocks (see the module docstring for why)."""
    buffer = io.BytesIO()
    with soundfile.SoundFile(
        buffer, "w", fs, data.shape[1], subtype=subtype, format=major, **options
    ) as file:
        for start in range(0, data.shape[0], WRITE_BLOCK_FRAMES):
            file.write(data[start : start + WRITE_BLOCK_FRAMES])
    return buffer.getvalue()


def _empty_flac(fs: int, channels: int, bits: int) -> bytes:
    """A FLAC stream with no audio frames: the "fLaC" marker and one STREAMINFO block.

    RFC 9639 section 8.2: block sizes 16 bits each (4096, libFLAC's default), frame sizes
    24 bits each (0: unknown), then 20 bits rate, 3 bits channels - 1, 5 bits bits - 1, 36 bits
    total samples (0), and the MD5 of the (empty) unencoded audio.
    """
    block = 4096
    packed = (fs << 44) | ((channels - 1) << 41) | ((bits - 1) << 36)
    info = struct.pack(">HH", block, block) + bytes(6) + packed.to_bytes(8, "big")
    info += hashlib.md5(b"").digest()
    last_block_streaminfo = bytes([0x80]) + len(info).to_bytes(3, "big")
    return b"fLaC" + last_block_streaminfo + info


# Offsets into the LAME extension of the Info tag, counted from its "LAME" version string.
_LAME_DELAY_PADDING = 21  # 12 bits encoder delay, 12 bits padding
_LAME_TAG_CRC = 34  # CRC-16 of the first frame's bytes up to here
_MAX_LAME_PADDING = 0xFFF


def _crc16(data: bytes | bytearray) -> int:
    """CRC-16/ARC (reflected polynomial 0xA001, initial 0), the LAME tag's checksum."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _empty_mp3(fs: int, channels: int) -> bytes:
    """An MP3 that gapless decoders (mpg123, so libsndfile) read as zero frames.

    LAME is given one silent sample; its LAME tag then says encoder delay + 1 sample + padding
    fill the frames. Raising the padding by one (and updating the tag's CRC) leaves no sample
    to play. Decoders without gapless support play at most a few frames of digital silence.
    """
    encoded = bytearray(
        _write(
            np.zeros((1, channels)),
            fs,
            "MP3",
            "MPEG_LAYER_III",
            {"compression_level": HIGHEST_QUALITY, "bitrate_mode": "CONSTANT"},
        )
    )
    tag = encoded.find(b"LAME")
    crc_at = tag + _LAME_TAG_CRC
    if tag < 0 or _crc16(encoded[:crc_at]) != int.from_bytes(encoded[crc_at : crc_at + 2], "big"):
        raise RuntimeError("libsndfile's MP3 encoder wrote no LAME tag; cannot mark it empty")
    field = tag + _LAME_DELAY_PADDING
    delay_padding = int.from_bytes(encoded[field : field + 3], "big")
    delay, padding = delay_padding >> 12, delay_padding & _MAX_LAME_PADDING
    if padding >= _MAX_LAME_PADDING:
        raise RuntimeError(f"LAME padding {padding} leaves no room to drop the sample")
    encoded[field : field + 3] = ((delay << 12) | (padding + 1)).to_bytes(3, "big")
    encoded[crc_at : crc_at + 2] = _crc16(encoded[:crc_at]).to_bytes(2, "big")
    return bytes(encoded)


def encode_pcm(frames: NDArray[np.float32], encoding: Encoding) -> bytes:
    """Float frames (frames, channels) as interleaved little-endian raw PCM of `encoding`.

    The inverse of `voidline.audio.decode.PcmDecoder` for streams that go out block by block
    (stems): integer encodings are rounded to the nearest step at full scale 2^(bits-1) and
    clipped, without dither, so each block encodes on its own and a decode returns every
    in-range value a PcmDecoder produced exactly. F32 keeps the floats as they are.
    """
    samples = np.ascontiguousarray(frames, dtype=np.float32).reshape(-1)
    if encoding is Encoding.PCM_F32LE:
        return samples.astype("<f4").tobytes()
    if encoding is Encoding.CONTAINER:
        raise InvalidInputError("raw PCM output needs a PCM encoding (S16LE, S24LE or F32LE)")
    bits = 8 * encoding.bytes_per_sample
    scale = float(2 ** (bits - 1))
    values = np.clip(np.rint(samples.astype(np.float64) * scale), -scale, scale - 1)
    if encoding is Encoding.PCM_S16LE:
        return values.astype("<i2").tobytes()
    # 24-bit: the low three bytes of each little-endian int32.
    as_bytes = values.astype("<i4").view(np.uint8).reshape(-1, 4)
    return as_bytes[:, :3].tobytes()
