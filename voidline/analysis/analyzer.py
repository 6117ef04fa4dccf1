"""StreamingAnalyzer: feeds each chunk of decoded audio to every meter, then builds the report.

Every meter keeps constant-size state (filter memories, running sums, histograms), so a stream
of any length uses the same memory, and any split of the audio into chunks gives the same report.
The meters share nothing, so a long chunk (PARALLEL_MIN_FRAMES or more, such as a whole file
analysed at once) is measured by two groups of them on two cores at the same time; short
chunks of a live stream are not worth the threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voidline.analysis.clipping import ClippingDetector
from voidline.analysis.features import FEATURE_LAYOUT_VERSION, FeatureInputs, build_feature_vector
from voidline.analysis.levels import LevelMeter
from voidline.analysis.loudness import LoudnessMeter
from voidline.analysis.report import (
    AnalysisReport,
    DynamicsReport,
    LiveLoudness,
    PeakReport,
    ScoreReport,
    StereoReport,
)
from voidline.analysis.score import score_report
from voidline.analysis.spectrum import SpectrumAnalyzer
from voidline.analysis.stereo import StereoMeter
from voidline.analysis.truepeak import TruePeakMeter
from voidline.audio.format import AudioFormat
from voidline.dsp.parallel import run_parallel
from voidline.errors import InvalidInputError

SHORT_TERM_PERCENTILES = (5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0)
PARALLEL_MIN_FRAMES = 1 << 17  # about 3 s at 44.1 kHz


@dataclass(frozen=True)
class AnalysisOptions:
    target_lufs: float = -14.0
    clip_run_samples: int = 3
    true_peak_high_precision: bool = False
    # Largest positive sample value of the source encoding (32767/32768 for 16-bit PCM):
    # a sample at or beyond it counts as full scale for clipping.
    full_scale: float = 1.0

    def __post_init__(self) -> None:
        if not -70.0 <= self.target_lufs <= 0.0:
            raise InvalidInputError(f"target loudness {self.target_lufs} LUFS is outside -70..0")
        if not 1 <= self.clip_run_samples <= 1_000_000:
            raise InvalidInputError(
                f"clip run length {self.clip_run_samples} is outside 1..1000000 samples"
            )


def _db(power_ratio: float) -> float:
    return float(10.0 * np.log10(power_ratio)) if power_ratio > 0 else float("-inf")


class StreamingAnalyzer:
    """Analyse audio pushed in chunks of any size; `finish()` returns the full report."""

    def __init__(self, fmt: AudioFormat, options: AnalysisOptions | None = None) -> None:
        self.format = fmt
        self.options = options or AnalysisOptions()
        self.loudness = LoudnessMeter(fmt)
        self.peaks = TruePeakMeter(
            fmt.sample_rate_hz, fmt.channels, high_precision=self.options.true_peak_high_precision
        )
        self.levels = LevelMeter(fmt.channels)
        self.clipping = ClippingDetector(
            fmt.sample_rate_hz,
            fmt.channels,
            run_samples=self.options.clip_run_samples,
            full_scale=self.options.full_scale,
        )
        pair = fmt.stereo_pair()
        self.stereo = StereoMeter(fmt.sample_rate_hz, pair) if pair is not None else None
        self.spectrum = SpectrumAnalyzer(fmt.sample_rate_hz, fmt.channels, pair)
        self.frames_processed = 0

    @property
    def seconds_processed(self) -> float:
        return self.frames_processed / self.format.sample_rate_hz

    def push(self, frames: NDArray[np.floating]) -> None:
        """Analyse the next frames, shape (n, channels), full scale 1.0, all finite."""
        if frames.ndim != 2 or frames.shape[1] != self.format.channels:
            raise InvalidInputError(
                f"expected frames of shape (n, {self.format.channels}), got {frames.shape}"
            )
        if frames.shape[0] == 0:
            return
        x = np.ascontiguousarray(frames, dtype=np.float64)

        def loudness_and_peaks() -> None:
            self.loudness.push(x)
            self.peaks.push(x)

        def the_others() -> None:
            self.levels.push(x)
            self.clipping.push(x)
            if self.stereo is not None:
                self.stereo.push(x)
            self.spectrum.push(x)

        if x.shape[0] >= PARALLEL_MIN_FRAMES:  # about as much work in each group
            run_parallel([loudness_and_peaks, the_others])
        else:
            loudness_and_peaks()
            the_others()
        self.frames_processed += x.shape[0]

    def push_with_interim(
        self, frames: NDArray[np.floating], every_s: float
    ) -> Iterator[LiveLoudness]:
        """Push frames; yield the live meter whenever stream time reaches a multiple of every_s."""
        step = max(1, round(every_s * self.format.sample_rate_hz))
        start = 0
        while start < frames.shape[0]:
            to_boundary = step - self.frames_processed % step
            stop = min(frames.shape[0], start + to_boundary)
            self.push(frames[start:stop])
            if self.frames_processed % step == 0:
                yield self.live()
            start = stop

    def live(self) -> LiveLoudness:
        meter = self.loudness
        return LiveLoudness(
            stream_time_s=self.seconds_processed,
            momentary_lufs=meter.momentary_lufs,
            momentary_ready=meter.momentary_ready,
            short_term_lufs=meter.short_term_lufs,
            short_term_ready=meter.short_term_ready,
            integrated_lufs=meter.integrated()[0],
            max_momentary_lufs=meter.max_momentary_lufs,
            max_short_term_lufs=meter.max_short_term_lufs,
            loudness_range_lu=meter.loudness_range()[0],
            true_peak_dbtp=max(self.peaks.true_peak_dbtp(), default=float("-inf")),
            sample_peak_dbfs=max(self.peaks.sample_peak_dbfs(), default=float("-inf")),
        )

    def finish(self) -> AnalysisReport:
        """The full report on everything pushed so far."""
        if self.frames_processed == 0:
            raise InvalidInputError("the stream ended without any audio; send at least one chunk")
        self.peaks.flush()  # the last samples' inter-sample peaks need the interpolator's tail
        loudness = self.loudness.report()
        channel_peaks = self.levels.channel_peaks(
            self.peaks.true_peak_dbtp(), self.peaks.sample_peak_dbfs()
        )
        peaks = PeakReport(
            true_peak_dbtp=max(p.true_peak_dbtp for p in channel_peaks),
            sample_peak_dbfs=max(p.sample_peak_dbfs for p in channel_peaks),
            oversampling_factor=self.peaks.oversampling_factor,
            channels=channel_peaks,
        )
        hist_start, hist = self.loudness.short_term_histogram()
        dynamics = DynamicsReport(
            plr_db=peaks.true_peak_dbtp - loudness.integrated_lufs
            if np.isfinite(loudness.integrated_lufs)
            else 0.0,
            crest_factor_db=self.levels.overall_crest_factor_db(),
            dynamic_range_db=self.loudness.momentary_dynamic_range_db(),
            short_term_percentiles=self.loudness.short_term_percentiles(SHORT_TERM_PERCENTILES),
            short_term_histogram_start_lufs=hist_start,
            short_term_histogram=hist,
        )
        stereo = self.stereo.report(self.loudness) if self.stereo is not None else None
        spectrum = self.spectrum.report()
        clipping = self.clipping.report()
        features = build_feature_vector(
            FeatureInputs(
                duration_s=self.seconds_processed,
                loudness=loudness,
                peaks=peaks,
                dynamics=dynamics,
                stereo=stereo,
                clipping=clipping,
                spectrum=spectrum,
                loudness_meter=self.loudness,
                spectrum_analyzer=self.spectrum,
                stereo_meter=self.stereo,
            )
        )
        report = AnalysisReport(
            duration_s=self.seconds_processed,
            sample_rate_hz=self.format.sample_rate_hz,
            channels=self.format.channels,
            channel_roles=self.format.roles,
            loudness=loudness,
            peaks=peaks,
            dynamics=dynamics,
            stereo=stereo if stereo is not None else StereoReport(is_stereo=False),
            clipping=clipping,
            spectrum=spectrum,
            score=ScoreReport(target_lufs=self.options.target_lufs),
            features=features,
            feature_layout_version=FEATURE_LAYOUT_VERSION,
        )
        report.score = score_report(report, target_lufs=self.options.target_lufs)
        return report
