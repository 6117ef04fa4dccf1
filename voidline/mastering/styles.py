"""Style and intensity: how the model's predicted parameters become the applied ones.

    applied = neutral + intensity * (style(predicted) - neutral)      (clipped to the range)

Style biases the prediction first (additions in the parameter's unit, or factors for ratios
and time constants); intensity (0-1) then scales how much of the result is applied, measured
from each parameter's neutral value (0 dB of EQ, ratio 1, width 1, no excitation). Ratios are
scaled on their logarithmic axis, so intensity 0.5 of ratio 4 is ratio 2. Parameters without
a neutral value (time constants, knee, drive, corner) only shape the others and are kept.
Intensity 0 therefore leaves the chain with loudness targeting and limiting only.

| style | bias |
|---|---|
| balanced | none: the model's prediction as is |
| warm | low shelf +1.5 dB, 250 Hz +0.5 dB, high shelf -1 dB, exciter drive +3 dB |
| bright | high shelf +1.5 dB, 8 kHz +1 dB, 250 Hz -0.5 dB, exciter amount +0.1 |
| punchy | attack x2 (transients pass), low/low-mid ratios x1.25, 63 Hz +1, 2 kHz +0.5 dB, |
| | limiter release x0.7 |
| open | width high-mid +0.15 and high +0.2, 16 kHz +1 dB, every ratio x0.85 |
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from voidline.errors import InvalidInputError
from voidline.mastering.parameters import BAND_NAMES, BY_NAME, PARAMETER_NAMES

# (parameter, operation, amount): "add" in the parameter's unit, "scale" multiplies.
Bias = tuple[str, str, float]

STYLES: dict[str, tuple[Bias, ...]] = {
    "balanced": (),
    "warm": (
        ("low_shelf_db", "add", 1.5),
        ("eq_250hz_db", "add", 0.5),
        ("high_shelf_db", "add", -1.0),
        ("exciter_drive_db", "add", 3.0),
    ),
    "bright": (
        ("high_shelf_db", "add", 1.5),
        ("eq_8khz_db", "add", 1.0),
        ("eq_250hz_db", "add", -0.5),
        ("exciter_amount", "add", 0.1),
    ),
    "punchy": (
        ("comp_attack_ms", "scale", 2.0),
        ("comp_low_ratio", "scale", 1.25),
        ("comp_low_mid_ratio", "scale", 1.25),
        ("eq_63hz_db", "add", 1.0),
        ("eq_2khz_db", "add", 0.5),
        ("limiter_release_ms", "scale", 0.7),
    ),
    "open": (
        ("width_high_mid", "add", 0.15),
        ("width_high", "add", 0.2),
        ("eq_16khz_db", "add", 1.0),
        *((f"comp_{band}_ratio", "scale", 0.85) for band in BAND_NAMES),
    ),
}
DEFAULT_STYLE = "balanced"


def check_style(style: str) -> str:
    """The style's canonical name ("" means balanced); unknown names are refused."""
    key = (style or DEFAULT_STYLE).strip().lower()
    if key not in STYLES:
        raise InvalidInputError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    return key


def check_intensity(intensity: float) -> float:
    if not (math.isfinite(intensity) and 0.0 <= intensity <= 1.0):
        raise InvalidInputError(f"intensity must lie within 0 to 1, got {intensity}")
    return float(intensity)


def _clip(name: str, value: float) -> float:
    spec = BY_NAME[name]
    return min(max(value, spec.low), spec.high)


def apply_style(predicted: Mapping[str, float], style: str) -> dict[str, float]:
    """The predicted parameters with the style's biases, clipped to each range."""
    out = {name: float(predicted[name]) for name in PARAMETER_NAMES}
    for name, operation, amount in STYLES[check_style(style)]:
        out[name] = _clip(name, out[name] + amount if operation == "add" else out[name] * amount)
    return out


def apply_intensity(parameters: Mapping[str, float], intensity: float) -> dict[str, float]:
    """Move every parameter with a neutral value from neutral towards `parameters`."""
    amount = check_intensity(intensity)
    out: dict[str, float] = {}
    for name in PARAMETER_NAMES:
        spec, value = BY_NAME[name], float(parameters[name])
        if spec.neutral is None:
            out[name] = value
        else:
            start = spec.to_unit(spec.neutral)
            out[name] = spec.to_physical(start + amount * (spec.to_unit(value) - start))
    return out


def applied_parameters(
    predicted: Mapping[str, float], style: str, intensity: float
) -> dict[str, float]:
    """What the chain runs with: style first, then intensity (see the module docstring)."""
    return apply_intensity(apply_style(predicted, style), intensity)
