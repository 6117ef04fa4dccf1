"""Audio formats and channel layouts, with the BS.1770-5 channel weights."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from voidline.errors import InvalidInputError

MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 384_000
MAX_CHANNELS = 8


class Encoding(enum.Enum):
    PCM_S16LE = "pcm_s16le"
    PCM_S24LE = "pcm_s24le"
    PCM_F32LE = "pcm_f32le"
    CONTAINER = "container"

    @property
    def bytes_per_sample(self) -> int:
        return {Encoding.PCM_S16LE: 2, Encoding.PCM_S24LE: 3, Encoding.PCM_F32LE: 4}[self]

    @property
    def full_scale(self) -> float:
        """Largest positive sample value after decoding to float (full scale is 1.0)."""
        if self is Encoding.PCM_S16LE:
            return 32767 / 32768
        if self is Encoding.PCM_S24LE:
            return 8388607 / 8388608
        return 1.0


class ChannelRole(enum.Enum):
    LEFT = "L"
    RIGHT = "R"
    CENTER = "C"
    LFE = "LFE"
    LEFT_SURROUND = "Ls"
    RIGHT_SURROUND = "Rs"
    LEFT_BACK = "Lb"
    RIGHT_BACK = "Rb"
    BACK_CENTER = "Cs"
    DUAL_MONO = "M2"

    @property
    def weight(self) -> float:
        """Channel weight G_i, ITU-R BS.1770-5 Table 3 (section 2.4).

        1.41 (+1.5 dB) for loudspeakers at 60-120 degrees azimuth, 1.0 for the front and the
        rear (135-180 degrees), 0 for LFE. Dual mono counts the one channel twice.
        """
        if self is ChannelRole.LFE:
            return 0.0
        if self in (ChannelRole.LEFT_SURROUND, ChannelRole.RIGHT_SURROUND):
            return 1.41
        if self is ChannelRole.DUAL_MONO:
            return 2.0
        return 1.0


_R = ChannelRole
DEFAULT_LAYOUTS: dict[int, tuple[ChannelRole, ...]] = {
    1: (_R.CENTER,),
    2: (_R.LEFT, _R.RIGHT),
    3: (_R.LEFT, _R.RIGHT, _R.CENTER),
    4: (_R.LEFT, _R.RIGHT, _R.LEFT_SURROUND, _R.RIGHT_SURROUND),
    5: (_R.LEFT, _R.RIGHT, _R.CENTER, _R.LEFT_SURROUND, _R.RIGHT_SURROUND),
    6: (_R.LEFT, _R.RIGHT, _R.CENTER, _R.LFE, _R.LEFT_SURROUND, _R.RIGHT_SURROUND),
    7: (_R.LEFT, _R.RIGHT, _R.CENTER, _R.LFE, _R.BACK_CENTER, _R.LEFT_SURROUND, _R.RIGHT_SURROUND),
    8: (
        _R.LEFT,
        _R.RIGHT,
        _R.CENTER,
        _R.LFE,
        _R.LEFT_BACK,
        _R.RIGHT_BACK,
        _R.LEFT_SURROUND,
        _R.RIGHT_SURROUND,
    ),
}


@dataclass(frozen=True)
class AudioFormat:
    """Sample rate, channel count and per-channel roles of decoded audio."""

    sample_rate_hz: int
    channels: int
    roles: tuple[ChannelRole, ...] = field(default=())

    def __post_init__(self) -> None:
        if not MIN_SAMPLE_RATE_HZ <= self.sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
            raise InvalidInputError(
                f"sample rate {self.sample_rate_hz} Hz is outside the supported range "
                f"{MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz"
            )
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise InvalidInputError(
                f"channel count {self.channels} is outside the supported range 1-{MAX_CHANNELS}"
            )
        if not self.roles:
            object.__setattr__(self, "roles", DEFAULT_LAYOUTS[self.channels])
        elif len(self.roles) != self.channels:
            raise InvalidInputError(
                f"{len(self.roles)} channel roles given for {self.channels} channels; "
                "give one role per channel or none for the default layout"
            )

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(role.weight for role in self.roles)

    def stereo_pair(self) -> tuple[int, int] | None:
        """Indices of the left and right front channels, or None when there is no such pair."""
        if ChannelRole.LEFT in self.roles and ChannelRole.RIGHT in self.roles:
            return self.roles.index(ChannelRole.LEFT), self.roles.index(ChannelRole.RIGHT)
        return None
