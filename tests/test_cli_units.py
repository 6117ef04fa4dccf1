"""Unit tests of the CLI's pieces that need no server: report output, key and gateway lookup,
the state directory, and how a file is cut into chunks."""

from __future__ import annotations

import hashlib
import json
import math
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voidline.audio.format import Encoding
from voidline.cli import state
from voidline.cli.audio_source import AudioSource, AudioSourceError, chunk_frames
from voidline.cli.progress import render_bar
from voidline.cli.report_format import flatten_report, format_report
from voidline.v1 import analysis_pb2

NEG_INF = float("-inf")


def make_report(*, silent: bool = False) -> analysis_pb2.AnalysisReport:
    """A report like the server's: a 2 s stereo tone, or silence (where loudness is -inf)."""
    report = analysis_pb2.AnalysisReport(duration_s=2.0, sample_rate_hz=48000, channels=2)
    report.loudness.integrated_lufs = NEG_INF if silent else -23.0
    report.loudness.loudness_range_lu = 0.0
    report.loudness.max_momentary_lufs = NEG_INF if silent else -22.9
    report.loudness.max_short_term_lufs = NEG_INF if silent else -23.1
    report.peaks.true_peak_dbtp = NEG_INF if silent else -23.0
    report.peaks.sample_peak_dbfs = NEG_INF if silent else -23.0
    report.peaks.oversampling_factor = 4
    for dc in (0.001, -0.002):
        report.peaks.channels.add(true_peak_dbtp=-23.0, sample_peak_dbfs=-23.0, dc_offset=dc)
    report.stereo.is_stereo = True
    report.stereo.correlation = 1.0
    report.stereo.width = 0.0
    report.stereo.width_db = NEG_INF
    report.clipping.run_samples = 3
    report.clipping.event_count = 1
    report.clipping.events.add(channel=1, start_s=0.5, samples=4)
    report.score.voidline_score = 61.5
    report.score.target_lufs = -14.0
    # "NaN" as a detail text must survive: only floating-point fields become null.
    report.score.sub_scores.add(name="loudness", score=40.0, weight=0.3, detail="NaN")
    report.score.sub_scores.add(name="peaks", score=90.0, weight=0.2, detail="headroom ok")
    report.features.extend([0.5] * 383 + [math.nan])
    return report


def test_json_has_the_headline_keys_and_turns_inf_and_nan_into_null() -> None:
    data = flatten_report(make_report(silent=True))
    text = json.dumps(data, allow_nan=False)  # raises if any inf / nan slipped through
    back = json.loads(text)
    assert back["integrated_lufs"] is None
    assert back["true_peak_dbtp"] is None
    assert back["report"]["loudness"]["integrated_lufs"] is None
    assert back["report"]["stereo"]["width_db"] is None
    assert back["features"][-1] is None
    assert back["report"]["features"][-1] is None
    assert len(back["features"]) == 384
    assert back["report"]["score"]["sub_scores"][0]["detail"] == "NaN"


def test_json_flattens_peaks_clipping_and_scores() -> None:
    data = flatten_report(make_report())
    assert data["integrated_lufs"] == -23.0
    assert data["max_short_term_lufs"] == -23.1
    assert data["dc_offset"] == pytest.approx([0.001, -0.002])
    assert data["clipping_events"] == [{"channel": 1, "start_s": 0.5, "samples": 4}]
    assert data["clipping_event_count"] == 1
    assert data["sub_scores"] == {"loudness": 40.0, "peaks": 90.0}
    assert data["stereo_correlation"] == 1.0
    assert (data["sample_rate"], data["channels"], data["duration_s"]) == (48000, 2, 2.0)
    # Zero-valued fields are still present in the nested report.
    assert data["report"]["loudness"]["loudness_range_lu"] == 0.0


def test_json_stereo_fields_are_null_for_mono() -> None:
    report = make_report()
    report.stereo.Clear()
    data = flatten_report(report)
    assert data["stereo_correlation"] is None
    assert data["stereo_width"] is None


def test_readable_report_has_every_section() -> None:
    text = format_report(make_report(), "tone.wav")
    for heading in ("Loudness", "Peaks", "Dynamics", "Stereo", "Clipping and DC", "Spectrum"):
        assert heading in text
    assert "-23.0 LUFS" in text
    assert "Voidline score: 61.5 / 100" in text
    assert "loudness" in text and "headroom ok" in text


def test_readable_report_shows_silence_as_minus_inf() -> None:
    text = format_report(make_report(silent=True), "silence.wav")
    assert "Integrated" in text
    assert "-inf LUFS" in text


def test_api_key_order_is_flag_then_env_then_key_file(tmp_path: Path) -> None:
    env = {state.API_KEY_ENV: "from-env"}
    assert state.resolve_api_key(None, {}, tmp_path) is None
    state.write_api_key_file(tmp_path, "from-file")
    assert state.resolve_api_key(None, {}, tmp_path) == "from-file"
    assert state.resolve_api_key(None, env, tmp_path) == "from-env"
    assert state.resolve_api_key("from-flag", env, tmp_path) == "from-flag"


def test_gateway_order_is_flag_env_running_up_then_default(tmp_path: Path) -> None:
    assert state.resolve_gateway(None, {}, tmp_path) == state.DEFAULT_GATEWAY
    record = state.ServiceRecord("gateway", "127.0.0.1:6000", "http://x/metrics", 1, 0.0)
    state.write_state(tmp_path, state.UpState(up_pid=1, services=(record,)))
    assert state.resolve_gateway(None, {}, tmp_path) == "127.0.0.1:6000"
    env = {state.GATEWAY_ENV: "10.0.0.1:1"}
    assert state.resolve_gateway(None, env, tmp_path) == "10.0.0.1:1"
    assert state.resolve_gateway("flag:2", env, tmp_path) == "flag:2"


def test_home_order_is_flag_then_env_then_user_home(tmp_path: Path) -> None:
    assert state.resolve_home(str(tmp_path), {state.HOME_ENV: "/elsewhere"}) == tmp_path
    assert state.resolve_home(None, {state.HOME_ENV: "/elsewhere"}) == Path("/elsewhere")
    assert state.resolve_home(None, {}) == Path.home() / ".voidline"


def test_key_files_are_private_and_the_gateway_gets_only_the_hash(tmp_path: Path) -> None:
    key = state.new_api_key()
    assert key.startswith(state.API_KEY_PREFIX) and len(key) > 40
    key_path = state.write_api_key_file(tmp_path, key)
    keys_path = state.write_gateway_keys(tmp_path, key)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_path.stat().st_mode) == 0o600
    entry = json.loads(keys_path.read_text())["keys"][0]
    assert entry["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in keys_path.read_text()
    assert entry["scopes"] == ["*"]


def test_state_round_trips_and_a_broken_file_reads_as_none(tmp_path: Path) -> None:
    records = (
        state.ServiceRecord("analysis", "127.0.0.1:1", "http://127.0.0.1:2/metrics", 11, 1.5),
        state.ServiceRecord("gateway", "127.0.0.1:3", "http://127.0.0.1:4/metrics", 12, 2.5),
    )
    state.write_state(tmp_path, state.UpState(up_pid=10, services=records))
    assert state.read_state(tmp_path) == state.UpState(up_pid=10, services=records)
    (tmp_path / state.STATE_FILE).write_text("{not json")
    assert state.read_state(tmp_path) is None
    state.remove_state(tmp_path)
    assert state.read_state(tmp_path) is None


def test_chunk_frames() -> None:
    assert chunk_frames(48000, 100) == 4800
    assert chunk_frames(44100, 100) == 4410
    assert chunk_frames(8000, 10) == 80
    assert chunk_frames(44100, 33.3) == 1469  # rounded, not truncated
    for bad in (0.0, 5.0, 10_000.0):
        with pytest.raises(ValueError):
            chunk_frames(48000, bad)


def _write(path: Path, subtype: str, fmt: str, frames: int = 10_000) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 0.5, size=(frames, 2))
    sf.write(str(path), x, 48000, format=fmt, subtype=subtype)
    return x


@pytest.mark.parametrize(
    ("name", "fmt", "subtype", "encoding"),
    [
        ("a.wav", "WAV", "PCM_16", Encoding.PCM_S16LE),
        ("b.wav", "WAV", "PCM_24", Encoding.PCM_S24LE),
        ("c.flac", "FLAC", "PCM_24", Encoding.PCM_S24LE),
        ("d.wav", "WAV", "FLOAT", Encoding.PCM_F32LE),
        ("e.ogg", "OGG", "VORBIS", Encoding.PCM_F32LE),
    ],
)
def test_wire_encoding_follows_the_file(
    tmp_path: Path, name: str, fmt: str, subtype: str, encoding: Encoding
) -> None:
    _write(tmp_path / name, subtype, fmt)
    source = AudioSource.open(tmp_path / name)
    assert source.encoding is encoding
    assert (source.format.sample_rate_hz, source.format.channels) == (48000, 2)


def test_chunks_are_the_requested_size_and_bit_exact_for_24_bit(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    _write(path, "PCM_24", "WAV", frames=10_000)
    source = AudioSource.open(path)
    chunks = list(source.chunks(4800))
    bytes_per_frame = 2 * 3
    assert [len(c) // bytes_per_frame for c in chunks] == [4800, 4800, 400]
    wire = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    # Reassemble little-endian 24-bit two's complement.
    decoded = wire[:, 0] | (wire[:, 1] << 8) | (wire[:, 2] << 16)
    decoded = np.where(decoded >= 1 << 23, decoded - (1 << 24), decoded).reshape(-1, 2)
    expected = sf.read(str(path), dtype="int32")[0] >> 8
    np.testing.assert_array_equal(decoded, expected)


def test_chunks_of_16_bit_are_the_file_samples(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    _write(path, "PCM_16", "WAV", frames=1000)
    data = b"".join(AudioSource.open(path).chunks(300))
    np.testing.assert_array_equal(
        np.frombuffer(data, dtype="<i2").reshape(-1, 2), sf.read(str(path), dtype="int16")[0]
    )


@pytest.mark.parametrize(
    ("name", "fmt", "subtype"), [("m.mp3", "MP3", "MPEG_LAYER_III"), ("v.ogg", "OGG", "VORBIS")]
)
def test_lossy_files_read_in_chunks_equal_one_whole_read(
    tmp_path: Path, name: str, fmt: str, subtype: str
) -> None:
    # soundfile's seek after each read used to restart the MP3 decoder and zero most blocks.
    path = tmp_path / name
    t = np.arange(48000) / 48000
    tone = 0.1 * np.sin(2 * np.pi * 1000 * t)
    sf.write(str(path), np.stack([tone, tone], axis=1), 48000, format=fmt, subtype=subtype)
    data = b"".join(AudioSource.open(path).chunks(4800))
    chunked = np.frombuffer(data, dtype="<f4").reshape(-1, 2)
    whole = sf.read(str(path), dtype="float32")[0]
    np.testing.assert_array_equal(chunked, whole)


def test_missing_and_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioSourceError, match="no such file"):
        AudioSource.open(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio" * 10)
    with pytest.raises(AudioSourceError, match="cannot read"):
        AudioSource.open(junk)


def test_progress_bar() -> None:
    assert render_bar(5.0, 20.0, width=4) == "[#...]  25%  5.0 / 20.0 s"
    assert render_bar(30.0, 20.0, width=4).startswith("[####] 100%")
    assert "2.0 s" in render_bar(2.0, 0.0)


def test_the_command_line_client_loads_no_dsp_or_model_libraries() -> None:
    """The client commands only stream to the gateway: every command starts without paying
    for scipy, numba, onnxruntime or torch (together about 1.5 s of imports); `voidline
    models`, `train` and `up`'s services import them where they need them."""
    heavy = ("scipy", "numba", "onnxruntime", "torch", "demucs", "faster_whisper")
    probe = (
        "import sys, voidline.cli.main; "
        f"print(sorted({{name.split('.')[0] for name in sys.modules}} & set({heavy!r})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
