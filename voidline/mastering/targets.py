"""Loudness targets: named delivery presets or any integrated loudness and true-peak ceiling.

| name | integrated | ceiling | where it comes from |
|---|---|---|---|
| streaming | -14 LUFS | -1 dBTP | the level most streaming services normalise music to |
| apple | -16 LUFS | -1 dBTP | Apple Music / Apple's sound check level |
| podcast | -16 LUFS | -1 dBTP | the common spoken-word delivery spec (AES TD1004) |
| broadcast | -23 LUFS | -1 dBTP | EBU R 128 (Tech 3343 for the ceiling) |
| club | -8 LUFS | -0.3 dBTP | loud dance masters |
| cd | -9 LUFS | -0.3 dBTP | loud CD-era masters |

A ceiling may be given with a name (it replaces the preset's) or with a number; ceilings above
0 dBTP are refused, since a true peak above full scale clips in any converter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voidline.dsp.limiter import CEILING_RANGE_DBTP
from voidline.dsp.loudness_target import TARGET_RANGE_LUFS
from voidline.errors import InvalidInputError


@dataclass(frozen=True)
class LoudnessTarget:
    """Where the master must land: integrated loudness and true-peak ceiling."""

    name: str  # a preset name, or "custom"
    lufs: float
    ceiling_dbtp: float


PRESETS: dict[str, LoudnessTarget] = {
    t.name: t
    for t in (
        LoudnessTarget("streaming", -14.0, -1.0),
        LoudnessTarget("apple", -16.0, -1.0),
        LoudnessTarget("podcast", -16.0, -1.0),
        LoudnessTarget("broadcast", -23.0, -1.0),
        LoudnessTarget("club", -8.0, -0.3),
        LoudnessTarget("cd", -9.0, -0.3),
    )
}
DEFAULT_TARGET = "streaming"


def resolve_target(
    name: str = "", lufs: float | None = None, ceiling_dbtp: float | None = None
) -> LoudnessTarget:
    """The target for a preset name or a LUFS value, with an optional ceiling override.

    name "" and lufs None: the default preset (streaming). A name and a lufs together are
    refused (which one was meant?).
    """
    if name and lufs is not None:
        raise InvalidInputError("give either a target name or a LUFS value, not both")
    if lufs is not None:
        low, high = TARGET_RANGE_LUFS
        if not (math.isfinite(lufs) and low <= lufs <= high):
            raise InvalidInputError(
                f"target loudness must lie within {low:g} to {high:g} LUFS, got {lufs}"
            )
        base = LoudnessTarget("custom", float(lufs), -1.0)
    else:
        key = (name or DEFAULT_TARGET).strip().lower()
        if key not in PRESETS:
            raise InvalidInputError(
                f"unknown target {name!r}; choose one of {', '.join(PRESETS)} or give a LUFS value"
            )
        base = PRESETS[key]
    if ceiling_dbtp is None:
        return base
    if not math.isfinite(ceiling_dbtp) or ceiling_dbtp > 0.0:
        raise InvalidInputError(
            f"the true-peak ceiling must be at or below 0 dBTP, got {ceiling_dbtp}: "
            "above full scale the master clips in any converter"
        )
    low, high = CEILING_RANGE_DBTP
    if ceiling_dbtp < low:
        raise InvalidInputError(
            f"the true-peak ceiling must lie within {low:g} to {high:g} dBTP, got {ceiling_dbtp}"
        )
    return LoudnessTarget(base.name, base.lufs, float(ceiling_dbtp))
