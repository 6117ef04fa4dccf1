"""Protobuf <-> domain conversion for the analysis service, with validation of the config.

Every check raises `InvalidInputError` with a message that names the field (as the caller
spells it: `config.format.sample_rate_hz`) and the allowed values, so a client author can fix
the request from the message alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from voidline.analysis.analyzer import AnalysisOptions
from voidline.analysis.report import (
    AnalysisReport,
    ChannelPeak,
    ClippingEvent,
    ClippingReport,
    DynamicsReport,
    LiveLoudness,
    LoudnessReport,
    PeakReport,
    ScoreReport,
    SpectrumReport,
    StereoReport,
    SubScore,
)
from voidline.audio.format import (
    DEFAULT_LAYOUTS,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE_HZ,
    MIN_SAMPLE_RATE_HZ,
    AudioFormat,
    ChannelRole,
    Encoding,
)
from voidline.errors import InvalidInputError
from voidline.v1 import analysis_pb2, audio_pb2

DEFAULT_INTERIM_INTERVAL_S = 0.1
MIN_INTERIM_INTERVAL_S = 0.01
MAX_INTERIM_INTERVAL_S = 10.0
DEFAULT_TARGET_LUFS = -14.0
DEFAULT_CLIP_RUN_SAMPLES = 3
MAX_CLIP_RUN_SAMPLES = 1_000_000

_ENCODINGS: dict[int, Encoding] = {
    audio_pb2.SAMPLE_ENCODING_PCM_S16LE: Encoding.PCM_S16LE,
    audio_pb2.SAMPLE_ENCODING_PCM_S24LE: Encoding.PCM_S24LE,
    audio_pb2.SAMPLE_ENCODING_PCM_F32LE: Encoding.PCM_F32LE,
    audio_pb2.SAMPLE_ENCODING_CONTAINER: Encoding.CONTAINER,
}

_ROLES: dict[audio_pb2.ChannelRole, ChannelRole] = {
    audio_pb2.CHANNEL_ROLE_LEFT: ChannelRole.LEFT,
    audio_pb2.CHANNEL_ROLE_RIGHT: ChannelRole.RIGHT,
    audio_pb2.CHANNEL_ROLE_CENTER: ChannelRole.CENTER,
    audio_pb2.CHANNEL_ROLE_LFE: ChannelRole.LFE,
    audio_pb2.CHANNEL_ROLE_LEFT_SURROUND: ChannelRole.LEFT_SURROUND,
    audio_pb2.CHANNEL_ROLE_RIGHT_SURROUND: ChannelRole.RIGHT_SURROUND,
    audio_pb2.CHANNEL_ROLE_LEFT_BACK: ChannelRole.LEFT_BACK,
    audio_pb2.CHANNEL_ROLE_RIGHT_BACK: ChannelRole.RIGHT_BACK,
    audio_pb2.CHANNEL_ROLE_BACK_CENTER: ChannelRole.BACK_CENTER,
    audio_pb2.CHANNEL_ROLE_DUAL_MONO: ChannelRole.DUAL_MONO,
}
_ROLES_TO_PROTO: dict[ChannelRole, audio_pb2.ChannelRole] = {
    role: number for number, role in _ROLES.items()
}

_PCM_NAMES = ", ".join(
    audio_pb2.SampleEncoding.Name(n) for n in _ENCODINGS if n != audio_pb2.SAMPLE_ENCODING_CONTAINER
)


@dataclass(frozen=True)
class StreamConfig:
    """A validated AnalysisConfig.

    For PCM, `format` is the stated format. For a container it is None: rate and channel
    count come from the file, and `format_for_container` applies any roles given.
    """

    encoding: Encoding
    format: AudioFormat | None
    roles: tuple[ChannelRole, ...]
    target_lufs: float
    clip_run_samples: int
    true_peak_high_precision: bool
    interim_results: bool
    interim_interval_s: float

    def options(self, source_encoding: Encoding) -> AnalysisOptions:
        """Analyzer options; `source_encoding` decides the full scale used for clipping."""
        return AnalysisOptions(
            target_lufs=self.target_lufs,
            clip_run_samples=self.clip_run_samples,
            true_peak_high_precision=self.true_peak_high_precision,
            full_scale=source_encoding.full_scale,
        )

    def format_for_container(self, sample_rate_hz: int, channels: int) -> AudioFormat:
        """The format of a decoded file, with the config's roles when they were given."""
        if self.roles and len(self.roles) != channels:
            raise InvalidInputError(
                f"config.format.channel_roles has {len(self.roles)} roles but the file has "
                f"{channels} channels; give one role per channel or none for the default layout"
            )
        if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
            raise InvalidInputError(
                f"the file's sample rate {sample_rate_hz} Hz is outside the supported range "
                f"{MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz"
            )
        if not 1 <= channels <= MAX_CHANNELS:
            raise InvalidInputError(
                f"the file has {channels} channels; the supported range is 1-{MAX_CHANNELS}"
            )
        return AudioFormat(sample_rate_hz, channels, self.roles)


def _encoding_from_proto(value: int) -> Encoding:
    if value == audio_pb2.SAMPLE_ENCODING_UNSPECIFIED:
        raise InvalidInputError(
            "config.format.encoding is SAMPLE_ENCODING_UNSPECIFIED; set "
            f"{_PCM_NAMES} or SAMPLE_ENCODING_CONTAINER"
        )
    if value not in _ENCODINGS:
        raise InvalidInputError(
            f"config.format.encoding {value} is not a known SampleEncoding; set "
            f"{_PCM_NAMES} or SAMPLE_ENCODING_CONTAINER"
        )
    return _ENCODINGS[value]


def _roles_from_proto(values: Sequence[audio_pb2.ChannelRole]) -> tuple[ChannelRole, ...]:
    roles: list[ChannelRole] = []
    for index, value in enumerate(values):
        if value not in _ROLES:
            raise InvalidInputError(
                f"config.format.channel_roles[{index}] is {value}, not a loudspeaker position; "
                "use CHANNEL_ROLE_LEFT ... CHANNEL_ROLE_DUAL_MONO, or leave the list empty "
                "for the default layout"
            )
        role = _ROLES[value]
        if role in roles:
            # Two channels in one position would make the stereo pair ambiguous.
            raise InvalidInputError(
                f"config.format.channel_roles lists {audio_pb2.ChannelRole.Name(value)} twice; "
                "each position may appear once"
            )
        roles.append(role)
    return tuple(roles)


def _pcm_format(fmt: audio_pb2.AudioFormat, roles: tuple[ChannelRole, ...]) -> AudioFormat:
    rate = fmt.sample_rate_hz
    if not MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"config.format.sample_rate_hz {rate} is outside the supported range "
            f"{MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz (required for PCM encodings)"
        )
    channels = fmt.channel_count
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidInputError(
            f"config.format.channel_count {channels} is outside the supported range "
            f"1-{MAX_CHANNELS} (required for PCM encodings)"
        )
    if roles and len(roles) != channels:
        default = " ".join(role.value for role in DEFAULT_LAYOUTS[channels])
        raise InvalidInputError(
            f"config.format.channel_roles has {len(roles)} roles for {channels} channels; "
            f"give one role per channel or none for the default layout ({default})"
        )
    return AudioFormat(rate, channels, roles)


def _interim_interval(value: float) -> float:
    if value == 0.0:
        return DEFAULT_INTERIM_INTERVAL_S
    if not MIN_INTERIM_INTERVAL_S <= value <= MAX_INTERIM_INTERVAL_S:  # NaN fails too
        raise InvalidInputError(
            f"config.interim_interval_s {value} is outside {MIN_INTERIM_INTERVAL_S}-"
            f"{MAX_INTERIM_INTERVAL_S} s (0 means the default {DEFAULT_INTERIM_INTERVAL_S} s)"
        )
    return value


def _target_lufs(options: analysis_pb2.AnalysisOptions) -> float:
    if not options.HasField("target_lufs"):
        return DEFAULT_TARGET_LUFS
    value = float(options.target_lufs)
    if not (math.isfinite(value) and -70.0 <= value <= 0.0):
        raise InvalidInputError(
            f"config.options.target_lufs {value} is outside -70 to 0 LUFS "
            f"(unset means {DEFAULT_TARGET_LUFS} LUFS)"
        )
    return value


def _clip_run_samples(value: int) -> int:
    if value == 0:
        return DEFAULT_CLIP_RUN_SAMPLES
    if value > MAX_CLIP_RUN_SAMPLES:
        raise InvalidInputError(
            f"config.options.clip_run_samples {value} is outside 1-{MAX_CLIP_RUN_SAMPLES} "
            f"(0 means the default {DEFAULT_CLIP_RUN_SAMPLES})"
        )
    return int(value)


def _high_precision(value: int) -> bool:
    if value in (analysis_pb2.TRUE_PEAK_MODE_UNSPECIFIED, analysis_pb2.TRUE_PEAK_MODE_STANDARD):
        return False
    if value == analysis_pb2.TRUE_PEAK_MODE_HIGH_PRECISION:
        return True
    raise InvalidInputError(
        f"config.options.true_peak_mode {value} is not a known TruePeakMode; use "
        "TRUE_PEAK_MODE_STANDARD or TRUE_PEAK_MODE_HIGH_PRECISION"
    )


def config_from_proto(config: analysis_pb2.AnalysisConfig) -> StreamConfig:
    """Validate an AnalysisConfig and turn it into domain values."""
    encoding = _encoding_from_proto(config.format.encoding)
    roles = _roles_from_proto(list(config.format.channel_roles))
    # Containers carry their own rate and channel count; the config's are ignored.
    fmt = None if encoding is Encoding.CONTAINER else _pcm_format(config.format, roles)
    return StreamConfig(
        encoding=encoding,
        format=fmt,
        roles=roles,
        target_lufs=_target_lufs(config.options),
        clip_run_samples=_clip_run_samples(config.options.clip_run_samples),
        true_peak_high_precision=_high_precision(config.options.true_peak_mode),
        interim_results=config.interim_results,
        interim_interval_s=_interim_interval(config.interim_interval_s),
    )


def live_to_proto(live: LiveLoudness) -> analysis_pb2.LiveLoudness:
    return analysis_pb2.LiveLoudness(
        stream_time_s=live.stream_time_s,
        momentary_lufs=live.momentary_lufs,
        momentary_ready=live.momentary_ready,
        short_term_lufs=live.short_term_lufs,
        short_term_ready=live.short_term_ready,
        integrated_lufs=live.integrated_lufs,
        max_momentary_lufs=live.max_momentary_lufs,
        max_short_term_lufs=live.max_short_term_lufs,
        loudness_range_lu=live.loudness_range_lu,
        true_peak_dbtp=live.true_peak_dbtp,
        sample_peak_dbfs=live.sample_peak_dbfs,
    )


def _percentiles(pairs: list[tuple[float, float]]) -> list[analysis_pb2.Percentile]:
    return [analysis_pb2.Percentile(percentile=p, value=v) for p, v in pairs]


def report_to_proto(report: AnalysisReport) -> analysis_pb2.AnalysisReport:
    """The domain report as the API message (field for field; -inf stays -inf)."""
    loud, peaks, dyn = report.loudness, report.peaks, report.dynamics
    stereo, clip, spec, score = report.stereo, report.clipping, report.spectrum, report.score
    return analysis_pb2.AnalysisReport(
        duration_s=report.duration_s,
        sample_rate_hz=report.sample_rate_hz,
        channels=report.channels,
        channel_roles=[_ROLES_TO_PROTO[role] for role in report.channel_roles],
        loudness=analysis_pb2.LoudnessReport(
            integrated_lufs=loud.integrated_lufs,
            loudness_range_lu=loud.loudness_range_lu,
            loudness_range_low_lufs=loud.loudness_range_low_lufs,
            loudness_range_high_lufs=loud.loudness_range_high_lufs,
            loudness_range_stable=loud.loudness_range_stable,
            max_momentary_lufs=loud.max_momentary_lufs,
            max_short_term_lufs=loud.max_short_term_lufs,
            relative_gate_lufs=loud.relative_gate_lufs,
            gating_blocks=loud.gating_blocks,
            gated_blocks=loud.gated_blocks,
        ),
        peaks=analysis_pb2.PeakReport(
            true_peak_dbtp=peaks.true_peak_dbtp,
            sample_peak_dbfs=peaks.sample_peak_dbfs,
            oversampling_factor=peaks.oversampling_factor,
            channels=[
                analysis_pb2.ChannelPeak(
                    true_peak_dbtp=ch.true_peak_dbtp,
                    sample_peak_dbfs=ch.sample_peak_dbfs,
                    dc_offset=ch.dc_offset,
                    crest_factor_db=ch.crest_factor_db,
                    rms_dbfs=ch.rms_dbfs,
                )
                for ch in peaks.channels
            ],
        ),
        dynamics=analysis_pb2.DynamicsReport(
            plr_db=dyn.plr_db,
            crest_factor_db=dyn.crest_factor_db,
            dynamic_range_db=dyn.dynamic_range_db,
            short_term_percentiles=_percentiles(dyn.short_term_percentiles),
            short_term_histogram_start_lufs=dyn.short_term_histogram_start_lufs,
            short_term_histogram=dyn.short_term_histogram,
        ),
        stereo=analysis_pb2.StereoReport(
            is_stereo=stereo.is_stereo,
            correlation=stereo.correlation,
            correlation_percentiles=_percentiles(stereo.correlation_percentiles),
            width_db=stereo.width_db,
            width=stereo.width,
            balance_db=stereo.balance_db,
            mono_loudness_change_db=stereo.mono_loudness_change_db,
        ),
        clipping=analysis_pb2.ClippingReport(
            run_samples=clip.run_samples,
            event_count=clip.event_count,
            clipped_samples=clip.clipped_samples,
            events=[
                analysis_pb2.ClippingEvent(channel=e.channel, start_s=e.start_s, samples=e.samples)
                for e in clip.events
            ],
        ),
        spectrum=analysis_pb2.SpectrumReport(
            mel_band_db=spec.mel_band_db,
            mel_band_center_hz=spec.mel_band_center_hz,
            centroid_hz=spec.centroid_hz,
            tilt_db_per_octave=spec.tilt_db_per_octave,
            tonal_balance_deviation_db=spec.tonal_balance_deviation_db,
            tonal_balance_deviation_per_band_db=spec.tonal_balance_deviation_per_band_db,
        ),
        score=analysis_pb2.ScoreReport(
            voidline_score=score.voidline_score,
            target_lufs=score.target_lufs,
            sub_scores=[
                analysis_pb2.SubScore(name=s.name, score=s.score, weight=s.weight, detail=s.detail)
                for s in score.sub_scores
            ],
        ),
        features=report.features,
        feature_layout_version=report.feature_layout_version,
    )


def _pairs(items: Sequence[analysis_pb2.Percentile]) -> list[tuple[float, float]]:
    return [(p.percentile, p.value) for p in items]


def report_from_proto(message: analysis_pb2.AnalysisReport) -> AnalysisReport:
    """The API message as the domain report (the inverse of `report_to_proto`).

    Used by services that receive reports from the analysis service over gRPC. Features
    travel as float32, so they come back rounded to float32.
    """
    loud, peaks, dyn = message.loudness, message.peaks, message.dynamics
    stereo, clip, spec, score = message.stereo, message.clipping, message.spectrum, message.score
    return AnalysisReport(
        duration_s=message.duration_s,
        sample_rate_hz=message.sample_rate_hz,
        channels=message.channels,
        channel_roles=tuple(_ROLES[role] for role in message.channel_roles),
        loudness=LoudnessReport(
            integrated_lufs=loud.integrated_lufs,
            loudness_range_lu=loud.loudness_range_lu,
            loudness_range_low_lufs=loud.loudness_range_low_lufs,
            loudness_range_high_lufs=loud.loudness_range_high_lufs,
            loudness_range_stable=loud.loudness_range_stable,
            max_momentary_lufs=loud.max_momentary_lufs,
            max_short_term_lufs=loud.max_short_term_lufs,
            relative_gate_lufs=loud.relative_gate_lufs,
            gating_blocks=loud.gating_blocks,
            gated_blocks=loud.gated_blocks,
        ),
        peaks=PeakReport(
            true_peak_dbtp=peaks.true_peak_dbtp,
            sample_peak_dbfs=peaks.sample_peak_dbfs,
            oversampling_factor=peaks.oversampling_factor,
            channels=[
                ChannelPeak(
                    true_peak_dbtp=ch.true_peak_dbtp,
                    sample_peak_dbfs=ch.sample_peak_dbfs,
                    dc_offset=ch.dc_offset,
                    crest_factor_db=ch.crest_factor_db,
                    rms_dbfs=ch.rms_dbfs,
                )
                for ch in peaks.channels
            ],
        ),
        dynamics=DynamicsReport(
            plr_db=dyn.plr_db,
            crest_factor_db=dyn.crest_factor_db,
            dynamic_range_db=dyn.dynamic_range_db,
            short_term_percentiles=_pairs(dyn.short_term_percentiles),
            short_term_histogram_start_lufs=dyn.short_term_histogram_start_lufs,
            short_term_histogram=list(dyn.short_term_histogram),
        ),
        stereo=StereoReport(
            is_stereo=stereo.is_stereo,
            correlation=stereo.correlation,
            correlation_percentiles=_pairs(stereo.correlation_percentiles),
            width_db=stereo.width_db,
            width=stereo.width,
            balance_db=stereo.balance_db,
            mono_loudness_change_db=stereo.mono_loudness_change_db,
        ),
        clipping=ClippingReport(
            run_samples=clip.run_samples,
            event_count=clip.event_count,
            clipped_samples=clip.clipped_samples,
            events=[ClippingEvent(e.channel, e.start_s, e.samples) for e in clip.events],
        ),
        spectrum=SpectrumReport(
            mel_band_db=list(spec.mel_band_db),
            mel_band_center_hz=list(spec.mel_band_center_hz),
            centroid_hz=spec.centroid_hz,
            tilt_db_per_octave=spec.tilt_db_per_octave,
            tonal_balance_deviation_db=spec.tonal_balance_deviation_db,
            tonal_balance_deviation_per_band_db=list(spec.tonal_balance_deviation_per_band_db),
        ),
        score=ScoreReport(
            voidline_score=score.voidline_score,
            target_lufs=score.target_lufs,
            sub_scores=[SubScore(s.name, s.score, s.weight, s.detail) for s in score.sub_scores],
        ),
        features=list(message.features),
        feature_layout_version=message.feature_layout_version,
    )


def audio_format_from_proto(fmt: audio_pb2.AudioFormat) -> tuple[Encoding, AudioFormat | None]:
    """(encoding, PCM format) of a request's AudioFormat; the format is None for containers.

    Shared with the other services that take audio (mastering): the messages name the field
    `config.format` as every config spells it.
    """
    encoding = _encoding_from_proto(fmt.encoding)
    roles = _roles_from_proto(list(fmt.channel_roles))
    return encoding, None if encoding is Encoding.CONTAINER else _pcm_format(fmt, roles)
