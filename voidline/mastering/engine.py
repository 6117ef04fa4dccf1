"""The mastering data plane: analyse, predict, apply style and intensity, run the chain,
encode, verify, record. Protocol-neutral: the gRPC servicer converts and calls `master`.

    input ─▶ analysis (features) ─▶ model (32 parameters) ─▶ style, intensity
          ─▶ [reference match plan] ─▶ chain ─▶ encode ─▶ analysis of the delivered file
          ─▶ job log row, result

Reference mode: the reference decides tone and width, so the model's EQ and width parameters
are set to neutral and replaced by the match EQ and the match's per-band width factors; its
dynamics, exciter and limiter parameters still apply. The widths are planned on the input;
the match EQ is planned on the signal that reaches it, after the compressor, width stage and
exciter, so what those stages do to the tone is matched away too. The loudness target moves
towards the reference's integrated loudness by the amount:
target = amount * reference + (1 - amount) * requested. The ceiling is always the requested
one: reference mode is true-peak safe.

The A/B gain is the master's integrated loudness minus the input's: played with that gain,
the original is as loud as the master, so a listener compares tone and dynamics, not level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from voidline.analysis.analyzer import StreamingAnalyzer
from voidline.analysis.report import AnalysisReport
from voidline.audio.decode import decode_container
from voidline.audio.encode import OutputFormat, check_encodable, encode
from voidline.audio.format import AudioFormat
from voidline.mastering.chain import ChainSettings, check_input, process
from voidline.mastering.excerpt import check_excerpt_seconds, loudest_window
from voidline.mastering.joblog import JobLog, new_job_id
from voidline.mastering.parameters import BAND_NAMES, BY_NAME, EQ_BAND_NAMES
from voidline.mastering.reference import (
    ReferenceMatch,
    ReferenceProfile,
    apply_match_eq,
    plan_match,
)
from voidline.mastering.styles import applied_parameters, check_intensity, check_style
from voidline.mastering.targets import LoudnessTarget

CHAIN_VERSION = "chain-2"  # bump when the chain's output for the same settings changes
SHORT_CLIP_S = 3.0
ANALYSIS_BLOCK_FRAMES = 1 << 20  # in-process analysis pushes about 24 s at a time


class Analyzer(Protocol):
    """Measures audio (frames, channels) at fs: in process or through the analysis service."""

    def analyze(self, audio: NDArray[np.floating[Any]], fs: int) -> AnalysisReport: ...


class ParameterPredictor(Protocol):
    """A loaded parameter model (`voidline.mastering.inference.ParameterModel`)."""

    @property
    def version(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def precision(self) -> str: ...

    def predict_parameters(self, features: NDArray[np.floating]) -> dict[str, float]: ...


class InProcessAnalyzer:
    """The analysis service's meters run here (single-process deployments, tests)."""

    def analyze(self, audio: NDArray[np.floating[Any]], fs: int) -> AnalysisReport:
        """The report of audio (frames, channels), float32 or float64.

        Pushed in blocks of ANALYSIS_BLOCK_FRAMES: the meters convert each block to float64
        and copy it into their own layouts, so no whole-signal copy is ever made.
        """
        analyzer = StreamingAnalyzer(AudioFormat(fs, audio.shape[1]))
        for start in range(0, audio.shape[0], ANALYSIS_BLOCK_FRAMES):
            analyzer.push(audio[start : start + ANALYSIS_BLOCK_FRAMES])
        return analyzer.finish()


@dataclass(frozen=True)
class ReferenceInput:
    """A measured reference track and how much of it to match."""

    reference_id: str
    profile: ReferenceProfile
    amount: float = 1.0


@dataclass(frozen=True)
class Excerpt:
    """Preview window: start (None: the loudest window) and length in seconds."""

    start_s: float | None = None
    duration_s: float = 30.0

    def __post_init__(self) -> None:
        check_excerpt_seconds(self.start_s, self.duration_s)


@dataclass(frozen=True)
class MasteringSettings:
    target: LoudnessTarget
    intensity: float = 1.0
    style: str = "balanced"
    output_format: OutputFormat = OutputFormat.WAV24
    precision: str = "int8"
    reference: ReferenceInput | None = None
    excerpt: Excerpt | None = None

    def describe(self) -> dict[str, Any]:
        """Everything that decides the result, as plain JSON values (cache key, job log)."""
        return {
            "target_name": self.target.name,
            "target_lufs": self.target.lufs,
            "ceiling_dbtp": self.target.ceiling_dbtp,
            "intensity": self.intensity,
            "style": self.style,
            "output_format": self.output_format.name,
            "precision": self.precision,
            "reference_id": self.reference.reference_id if self.reference else None,
            "reference_amount": self.reference.amount if self.reference else None,
            "excerpt": None
            if self.excerpt is None
            else {"start_s": self.excerpt.start_s, "duration_s": self.excerpt.duration_s},
            "chain_version": CHAIN_VERSION,
        }


@dataclass(frozen=True)
class ReferenceOutcome:
    reference_id: str
    amount: float
    reference_lufs: float
    max_boost_db: float
    max_cut_db: float


@dataclass(frozen=True)
class MasteringResult:
    job_id: str
    encoded: bytes
    settings: MasteringSettings
    target_lufs: float  # after reference blending
    input_report: AnalysisReport
    output_report: AnalysisReport
    predicted: dict[str, float]
    applied: dict[str, float]
    model_version: str
    model_sha256: str
    model_precision: str
    ab_gain_db: float
    processing_s: float
    excerpt_start_s: float
    excerpt_duration_s: float
    reference: ReferenceOutcome | None
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """The result's numbers for the job log."""
        return job_metrics(self, self.input_report, self.output_report, len(self.encoded))


def job_metrics(job: Any, inp: Any, out: Any, output_bytes: int) -> dict[str, Any]:
    """A finished job's numbers for the job log, from a `MasteringResult` or a cached report.

    `job` has target_lufs, ab_gain_db, processing_s, excerpt_start_s, excerpt_duration_s and
    notes; `inp` and `out` are analysis reports (the domain's or their protobuf messages,
    which have the same field paths).
    """
    return {
        "target_lufs": job.target_lufs,
        "input_integrated_lufs": inp.loudness.integrated_lufs,
        "input_true_peak_dbtp": inp.peaks.true_peak_dbtp,
        "input_loudness_range_lu": inp.loudness.loudness_range_lu,
        "output_integrated_lufs": out.loudness.integrated_lufs,
        "output_true_peak_dbtp": out.peaks.true_peak_dbtp,
        "output_loudness_range_lu": out.loudness.loudness_range_lu,
        "output_score": out.score.voidline_score,
        "input_score": inp.score.voidline_score,
        "ab_gain_db": job.ab_gain_db,
        "processing_s": job.processing_s,
        "output_bytes": output_bytes,
        "excerpt_start_s": job.excerpt_start_s,
        "excerpt_duration_s": job.excerpt_duration_s,
        "notes": list(job.notes),
    }


Progress = Callable[[str, float], None]
# Stages of the job and where each starts in the overall fraction.
_CHAIN_SPAN = (0.2, 0.8)


def _chain_progress(report: Progress, stage: str, fraction: float) -> None:
    """The chain's stages within _CHAIN_SPAN; its own "done" is not the job's, so it is dropped."""
    if stage != "done":
        low, high = _CHAIN_SPAN
        report(stage, low + fraction * (high - low))


def _finite_or(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback


class MasteringEngine:
    """Masters audio with a parameter model, an analyzer and an optional job log."""

    def __init__(
        self,
        analyzer: Analyzer,
        models: Callable[[str], ParameterPredictor],
        job_log: JobLog | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.models = models
        self.job_log = job_log

    def master(
        self,
        audio: NDArray[np.float64],
        fs: int,
        settings: MasteringSettings,
        input_sha256: str,
        progress: Progress | None = None,
    ) -> MasteringResult:
        """Master audio (frames, channels) at fs; records the job when there is a job log."""
        report = progress or (lambda stage, fraction: None)
        job_id = new_job_id()
        kind = "preview" if settings.excerpt else "master"
        check_style(settings.style)
        check_intensity(settings.intensity)
        frames = check_input(audio, fs)
        check_encodable(fs, settings.output_format)  # before the work, not after the chain
        if self.job_log is not None:
            self.job_log.start(job_id, kind, input_sha256, settings.describe())
        try:
            result = self._run(job_id, frames, fs, settings, report)
        except Exception as error:
            if self.job_log is not None:
                self.job_log.fail(job_id, f"{type(error).__name__}: {error}")
            raise
        if self.job_log is not None:
            self.job_log.succeed(
                job_id,
                result.input_report.features,
                result.predicted,
                result.applied,
                result.model_version,
                result.model_sha256,
                result.metrics(),
            )
        return result

    def _run(
        self,
        job_id: str,
        frames: NDArray[np.float64],
        fs: int,
        settings: MasteringSettings,
        report: Progress,
    ) -> MasteringResult:
        started = time.perf_counter()
        notes: list[str] = []
        start_frame, frames = self._excerpt(frames, fs, settings.excerpt)
        duration_s = frames.shape[0] / fs
        if duration_s < SHORT_CLIP_S:
            notes.append(
                f"short clip ({duration_s:.2f} s): loudness and features rest on few 400 ms "
                "blocks, so the prediction is less certain"
            )

        report("analysing", 0.02)
        input_report = self.analyzer.analyze(frames, fs)
        report("predicting", 0.15)
        model = self.models(settings.precision)
        features = np.asarray(input_report.features, dtype=np.float32)
        predicted = model.predict_parameters(features)
        applied = applied_parameters(predicted, settings.style, settings.intensity)

        target_lufs = settings.target.lufs
        match_eq = None
        reference: ReferenceOutcome | None = None
        final_match: list[ReferenceMatch] = []
        if settings.reference is not None:
            report("reference", 0.18)
            ref = settings.reference
            # Width is planned on the input (the width stage scales its side); tone is planned
            # on what reaches the match EQ, after the compressor, width and exciter.
            widths = plan_match(ReferenceProfile.measure(frames, fs), ref.profile, ref.amount)
            for name in (*EQ_BAND_NAMES, "low_shelf_db", "high_shelf_db"):
                applied[name] = 0.0
            for band, factor in zip(BAND_NAMES, widths.width_factors, strict=True):
                spec = BY_NAME[f"width_{band}"]
                applied[spec.name] = min(max(factor, spec.low), spec.high)
            target_lufs = ref.amount * ref.profile.integrated_lufs + (1.0 - ref.amount) * (
                settings.target.lufs
            )
            target_lufs = min(max(target_lufs, -60.0), 0.0)

            def match_eq(x: NDArray[np.float64]) -> NDArray[np.float64]:
                processed = ReferenceProfile.measure(x, fs, role="processed input")
                final_match.append(plan_match(processed, ref.profile, ref.amount))
                return apply_match_eq(x, fs, final_match[-1])

        chain = process(
            frames,
            fs,
            ChainSettings.from_parameters(applied),
            target_lufs,
            settings.target.ceiling_dbtp,
            match_eq=match_eq,
            progress=lambda stage, fraction: _chain_progress(report, stage, fraction),
            input_lufs=input_report.loudness.integrated_lufs,
        )
        if not chain.loudness.reached:
            notes.append(chain.loudness.note)
        if settings.reference is not None and final_match:
            curve = np.asarray(final_match[-1].curve_db, dtype=np.float64)
            reference = ReferenceOutcome(
                reference_id=settings.reference.reference_id,
                amount=settings.reference.amount,
                reference_lufs=settings.reference.profile.integrated_lufs,
                max_boost_db=float(max(curve.max(initial=0.0), 0.0)),
                max_cut_db=float(min(curve.min(initial=0.0), 0.0)),
            )

        report("encoding", 0.85)
        encoded = encode(chain.audio, fs, settings.output_format)
        report("verifying", 0.9)
        delivered, delivered_fs, _, _ = decode_container(encoded)
        output_report = self.analyzer.analyze(delivered, delivered_fs)
        ceiling = settings.target.ceiling_dbtp
        if output_report.peaks.true_peak_dbtp > ceiling and settings.output_format.lossy:
            notes.append(
                f"the {settings.output_format.name} encoder's reconstruction peaks at "
                f"{output_report.peaks.true_peak_dbtp:.2f} dBTP, over the {ceiling:g} dBTP "
                "ceiling the master met before encoding; lossy codecs add overshoot (choose a "
                "lower ceiling for lossy delivery)"
            )
        ab_gain = _finite_or(output_report.loudness.integrated_lufs, 0.0) - _finite_or(
            input_report.loudness.integrated_lufs, 0.0
        )
        report("done", 1.0)
        model_info = (model.version, model.sha256, model.precision)
        return MasteringResult(
            job_id=job_id,
            encoded=encoded,
            settings=settings,
            target_lufs=target_lufs,
            input_report=input_report,
            output_report=output_report,
            predicted=predicted,
            applied=applied,
            model_version=model_info[0],
            model_sha256=model_info[1],
            model_precision=model_info[2],
            ab_gain_db=ab_gain,
            processing_s=time.perf_counter() - started,
            excerpt_start_s=start_frame / fs,
            excerpt_duration_s=duration_s,
            reference=reference,
            notes=notes,
        )

    @staticmethod
    def _excerpt(
        frames: NDArray[np.float64], fs: int, excerpt: Excerpt | None
    ) -> tuple[int, NDArray[np.float64]]:
        """(start frame, audio) of the preview window, or (0, everything)."""
        if excerpt is None:
            return 0, frames
        length = min(frames.shape[0], max(round(excerpt.duration_s * fs), 1))
        if excerpt.start_s is None:
            start = loudest_window(frames, fs, length)
        else:
            start = min(round(excerpt.start_s * fs), max(frames.shape[0] - length, 0))
        return start, frames[start : start + length]


def parameter_units() -> Mapping[str, str]:
    """Unit of every parameter, by name (for reports)."""
    return {name: spec.unit for name, spec in BY_NAME.items()}
