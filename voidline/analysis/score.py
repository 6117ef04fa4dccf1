"""The Voidline score: one 0-100 number for "is this master ready to ship".

It is the weighted mean of named sub-scores, each 0-100 from a piecewise-linear curve over one
measurement, with a short sentence saying what was found. docs/features.md lists every curve;
SUB_SCORES below is the single source of the weights and breakpoints.

Silence scores 0 on loudness, dynamics and tonal balance (there is nothing to judge) and full
marks where nothing can be wrong (peaks, clipping, DC). Mono scores full marks on stereo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from voidline.analysis.report import AnalysisReport, ScoreReport, SubScore

Curve = tuple[tuple[float, float], ...]  # (measurement, score) breakpoints, increasing x

# Weights (sum 1) and curves. Outside the first/last breakpoint the score stays flat.
WEIGHTS = {
    "loudness": 0.20,
    "true_peak": 0.15,
    "dynamics": 0.15,
    "stereo": 0.15,
    "tonal_balance": 0.15,
    "clipping": 0.10,
    "dc": 0.10,
}
LOUDNESS_ERROR_LU: Curve = ((1.0, 100.0), (9.0, 0.0))  # |integrated - target|
TRUE_PEAK_DBTP: Curve = ((-1.0, 100.0), (0.5, 0.0))
PLR_DB: Curve = ((4.0, 0.0), (9.0, 100.0), (18.0, 100.0), (28.0, 0.0))
LRA_LU: Curve = ((0.5, 0.0), (3.0, 100.0), (12.0, 100.0), (20.0, 0.0))
DYNAMICS_PLR_SHARE = 0.6  # dynamics = 0.6 PLR score + 0.4 LRA score
CORRELATION: Curve = ((-0.3, 0.0), (0.2, 100.0))  # programme correlation
CORRELATION_P5: Curve = ((-0.5, 0.0), (0.0, 100.0))  # 5th percentile of 400 ms windows
WIDTH_DB: Curve = ((-4.0, 100.0), (3.0, 0.0))  # side over mid energy
MONO_CHANGE_DB: Curve = ((-6.0, 0.0), (-1.5, 100.0))  # loudness change summed to mono
TONAL_DEVIATION_DB: Curve = ((3.0, 100.0), (12.0, 0.0))
CLIP_EVENTS_PER_MIN: Curve = ((0.0, 100.0), (1.0, 70.0), (5.0, 40.0), (20.0, 0.0))
DC_OFFSET_DBFS: Curve = ((-60.0, 100.0), (-34.0, 0.0))  # 20 log10 |largest channel offset|


def curve(x: float, points: Curve) -> float:
    """Piecewise-linear interpolation through points, flat outside them."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return float(np.interp(x, xs, ys))


def _weighted_mean(parts: Sequence[tuple[float, float]]) -> float:
    return sum(w * s for w, s in parts) / sum(w for w, _ in parts)


def _loudness(report: AnalysisReport, target_lufs: float) -> tuple[float, str]:
    integrated = report.loudness.integrated_lufs
    if not math.isfinite(integrated):
        return 0.0, "no audio above the -70 LUFS gate"
    error = integrated - target_lufs
    word = "louder" if error > 0 else "quieter"
    return (
        curve(abs(error), LOUDNESS_ERROR_LU),
        f"integrated {integrated:.1f} LUFS, {abs(error):.1f} LU {word} than the "
        f"{target_lufs:g} LUFS target",
    )


def _true_peak(report: AnalysisReport) -> tuple[float, str]:
    peak = report.peaks.true_peak_dbtp
    if not math.isfinite(peak):
        return 100.0, "silent: no peaks"
    advice = "" if peak <= -1.0 else "; keep it at or below -1 dBTP for lossy encoding"
    return curve(peak, TRUE_PEAK_DBTP), f"true peak {peak:+.1f} dBTP{advice}"


def _dynamics(report: AnalysisReport) -> tuple[float, str]:
    if not math.isfinite(report.loudness.integrated_lufs):
        return 0.0, "no audio above the -70 LUFS gate"
    plr, lra = report.dynamics.plr_db, report.loudness.loudness_range_lu
    score = DYNAMICS_PLR_SHARE * curve(plr, PLR_DB) + (1 - DYNAMICS_PLR_SHARE) * curve(lra, LRA_LU)
    if plr < PLR_DB[1][0]:
        verdict = "heavily limited"
    elif plr > PLR_DB[2][0]:
        verdict = "very dynamic for a master"
    else:
        verdict = "healthy"
    return score, f"PLR {plr:.1f} dB, LRA {lra:.1f} LU: {verdict}"


def _stereo(report: AnalysisReport) -> tuple[float, str]:
    st = report.stereo
    if not st.is_stereo:
        return 100.0, "mono: nothing can cancel"
    p5 = dict(st.correlation_percentiles).get(5.0, st.correlation)
    mono_change = st.mono_loudness_change_db if math.isfinite(st.mono_loudness_change_db) else -99
    parts = {
        "correlation": curve(st.correlation, CORRELATION),
        "worst moments": curve(p5, CORRELATION_P5),
        "width": curve(st.width_db, WIDTH_DB) if not math.isnan(st.width_db) else 100.0,
        "mono compatibility": curve(mono_change, MONO_CHANGE_DB),
    }
    worst = min(parts, key=lambda k: parts[k])
    detail = (
        f"correlation {st.correlation:+.2f} (5th percentile {p5:+.2f}), side/mid "
        f"{st.width_db:.1f} dB, mono sum {mono_change:+.1f} dB"
    )
    if parts[worst] < 100.0:
        detail += f"; weakest: {worst}"
    return float(np.mean(list(parts.values()))), detail


def _tonal_balance(report: AnalysisReport) -> tuple[float, str]:
    if not math.isfinite(report.loudness.integrated_lufs):
        return 0.0, "no audio to judge"
    rms = report.spectrum.tonal_balance_deviation_db
    tilt = report.spectrum.tilt_db_per_octave
    return (
        curve(rms, TONAL_DEVIATION_DB),
        f"{rms:.1f} dB RMS from the reference curve, tilt {tilt:+.1f} dB/octave",
    )


def _clipping(report: AnalysisReport) -> tuple[float, str]:
    events = report.clipping.event_count
    minutes = report.duration_s / 60.0
    rate = events / minutes if minutes > 0 else 0.0
    if events == 0:
        return 100.0, "no clipping"
    return (
        curve(rate, CLIP_EVENTS_PER_MIN),
        f"{events} clipping events ({rate:.1f} per minute, "
        f"runs of {report.clipping.run_samples}+ full-scale samples)",
    )


def _dc(report: AnalysisReport) -> tuple[float, str]:
    offset = max((abs(c.dc_offset) for c in report.peaks.channels), default=0.0)
    if offset == 0.0:
        return 100.0, "no DC offset"
    offset_db = 20.0 * math.log10(offset)
    return curve(offset_db, DC_OFFSET_DBFS), f"largest DC offset {offset_db:.1f} dBFS"


def score_report(report: AnalysisReport, target_lufs: float) -> ScoreReport:
    """The Voidline score of an analysed programme against a loudness target (LUFS)."""
    results = {
        "loudness": _loudness(report, target_lufs),
        "true_peak": _true_peak(report),
        "dynamics": _dynamics(report),
        "stereo": _stereo(report),
        "tonal_balance": _tonal_balance(report),
        "clipping": _clipping(report),
        "dc": _dc(report),
    }
    subs = [
        SubScore(name=name, score=round(score, 2), weight=WEIGHTS[name], detail=detail)
        for name, (score, detail) in results.items()
    ]
    total = _weighted_mean([(s.weight, s.score) for s in subs])
    return ScoreReport(voidline_score=round(total, 2), target_lufs=target_lufs, sub_scores=subs)
