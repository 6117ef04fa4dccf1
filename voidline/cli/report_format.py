"""Turn an AnalysisReport (protobuf) into the CLI's JSON object or a readable text report."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import descriptor, json_format

from voidline.v1 import analysis_pb2

JsonDict = dict[str, Any]

_FLOAT_TYPES = (descriptor.FieldDescriptor.TYPE_DOUBLE, descriptor.FieldDescriptor.TYPE_FLOAT)


def finite_or_none(value: float) -> float | None:
    """JSON has no -inf or NaN: silence's -inf LUFS and undefined values become null."""
    return float(value) if math.isfinite(value) else None


def _null_non_finite(data: JsonDict, desc: Any) -> JsonDict:
    """Replace the "Infinity"/"-Infinity"/"NaN" strings MessageToDict writes for floating-point
    fields with None, guided by the message descriptor (``desc``) so string fields are never
    touched."""
    for name, value in data.items():
        field = desc.fields_by_name.get(name)
        if field is None:
            continue
        if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            sub = field.message_type
            if isinstance(value, list):
                data[name] = [_null_non_finite(v, sub) for v in value]
            elif isinstance(value, dict):
                data[name] = _null_non_finite(value, sub)
        elif field.type in _FLOAT_TYPES:
            if isinstance(value, list):
                data[name] = [v if isinstance(v, (int, float)) else None for v in value]
            elif not isinstance(value, (int, float)):
                data[name] = None
    return data


def report_to_dict(report: analysis_pb2.AnalysisReport) -> JsonDict:
    """The full report as JSON-ready data (proto field names, every field present)."""
    data = json_format.MessageToDict(
        report,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    return _null_non_finite(data, report.DESCRIPTOR)


def flatten_report(report: analysis_pb2.AnalysisReport) -> JsonDict:
    """The `voidline analyze --json` object: the headline numbers flat, the full report nested."""
    stereo = report.stereo if report.stereo.is_stereo else None
    return {
        "duration_s": finite_or_none(report.duration_s),
        "sample_rate": report.sample_rate_hz,
        "channels": report.channels,
        "integrated_lufs": finite_or_none(report.loudness.integrated_lufs),
        "loudness_range_lu": finite_or_none(report.loudness.loudness_range_lu),
        "max_momentary_lufs": finite_or_none(report.loudness.max_momentary_lufs),
        "max_short_term_lufs": finite_or_none(report.loudness.max_short_term_lufs),
        "true_peak_dbtp": finite_or_none(report.peaks.true_peak_dbtp),
        "sample_peak_dbfs": finite_or_none(report.peaks.sample_peak_dbfs),
        "plr_db": finite_or_none(report.dynamics.plr_db),
        "crest_factor_db": finite_or_none(report.dynamics.crest_factor_db),
        "stereo_correlation": finite_or_none(stereo.correlation) if stereo else None,
        "stereo_width": finite_or_none(stereo.width) if stereo else None,
        "dc_offset": [finite_or_none(c.dc_offset) for c in report.peaks.channels],
        "clipping_events": [
            {"channel": e.channel, "start_s": finite_or_none(e.start_s), "samples": e.samples}
            for e in report.clipping.events
        ],
        "clipping_event_count": report.clipping.event_count,
        "voidline_score": finite_or_none(report.score.voidline_score),
        "sub_scores": {s.name: finite_or_none(s.score) for s in report.score.sub_scores},
        "features": [finite_or_none(v) for v in report.features],
        "report": report_to_dict(report),
    }


def _num(value: float, unit: str, digits: int = 1) -> str:
    """A number with its unit; -inf reads as "-inf" (silence), NaN as "n/a"."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return f"{'-' if value < 0 else '+'}inf {unit}".rstrip()
    shown = round(value, digits) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0
    return f"{shown:.{digits}f} {unit}".rstrip()


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(label) for label, _ in rows)
    return [f"  {label.ljust(width)}  {value}" for label, value in rows]


def format_report(report: analysis_pb2.AnalysisReport, source: str) -> str:
    """A readable report, one section per part of the analysis."""
    loud, peaks, dyn = report.loudness, report.peaks, report.dynamics
    stereo, clip, spec, score = report.stereo, report.clipping, report.spectrum, report.score
    lines = [
        f"{source}: {report.duration_s:.2f} s, {report.sample_rate_hz} Hz, "
        f"{report.channels} channel{'s' if report.channels != 1 else ''}",
        "",
        "Loudness (ITU-R BS.1770-5, EBU Tech 3341/3342)",
    ]
    lra_note = "" if loud.loudness_range_stable else "  (programme under 60 s: indicative)"
    lines += _rows(
        [
            ("Integrated", _num(loud.integrated_lufs, "LUFS")),
            ("Loudness range", _num(loud.loudness_range_lu, "LU") + lra_note),
            ("Max momentary", _num(loud.max_momentary_lufs, "LUFS")),
            ("Max short-term", _num(loud.max_short_term_lufs, "LUFS")),
        ]
    )
    lines += ["", f"Peaks (true peak at {peaks.oversampling_factor}x oversampling)"]
    peak_rows = [
        ("True peak", _num(peaks.true_peak_dbtp, "dBTP")),
        ("Sample peak", _num(peaks.sample_peak_dbfs, "dBFS")),
    ]
    for i, ch in enumerate(peaks.channels):
        peak_rows.append(
            (
                f"Channel {i + 1}",
                f"{_num(ch.true_peak_dbtp, 'dBTP')}, RMS {_num(ch.rms_dbfs, 'dBFS')}, "
                f"crest {_num(ch.crest_factor_db, 'dB')}",
            )
        )
    lines += _rows(peak_rows)
    lines += ["", "Dynamics"]
    lines += _rows(
        [
            ("PLR", _num(dyn.plr_db, "dB")),
            ("Crest factor", _num(dyn.crest_factor_db, "dB")),
            ("Dynamic range", _num(dyn.dynamic_range_db, "dB") + "  (momentary, 95th - 10th pct)"),
        ]
    )
    lines += ["", "Stereo"]
    if stereo.is_stereo:
        lines += _rows(
            [
                ("Correlation", _num(stereo.correlation, "", 2)),
                ("Width", f"{_num(stereo.width, '', 2)}  (side/mid {_num(stereo.width_db, 'dB')})"),
                ("Balance", _num(stereo.balance_db, "dB") + "  (positive leans left)"),
                ("Mono fold-down", _num(stereo.mono_loudness_change_db, "dB")),
            ]
        )
    else:
        lines.append("  not stereo")
    lines += ["", "Clipping and DC"]
    dc = ", ".join(f"{c.dc_offset:+.5f}" for c in peaks.channels)
    lines += _rows(
        [
            (
                "Clipping events",
                f"{clip.event_count} ({clip.clipped_samples} samples, runs of "
                f"{clip.run_samples}+ at full scale)",
            ),
            ("DC offset", dc or "n/a"),
        ]
    )
    for e in list(clip.events)[:5]:
        lines.append(f"    channel {e.channel + 1} at {e.start_s:.3f} s: {e.samples} samples")
    lines += ["", "Spectrum"]
    lines += _rows(
        [
            ("Centroid", _num(spec.centroid_hz, "Hz", 0)),
            ("Tilt", _num(spec.tilt_db_per_octave, "dB/octave")),
            ("Tonal balance deviation", _num(spec.tonal_balance_deviation_db, "dB")),
        ]
    )
    lines += [
        "",
        f"Voidline score: {_num(score.voidline_score, '/ 100')}  "
        f"(target {_num(score.target_lufs, 'LUFS')})",
    ]
    if score.sub_scores:
        width = max(len(s.name) for s in score.sub_scores)
        for s in score.sub_scores:
            detail = f"  {s.detail}" if s.detail else ""
            lines.append(
                f"  {s.name.ljust(width)}  {s.score:5.1f}  (weight {s.weight:.2f}){detail}"
            )
    return "\n".join(lines) + "\n"
