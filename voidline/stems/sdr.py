"""Signal-to-distortion ratio of separated stems, as the Music Demixing challenge scores them.

The "new SDR" (nSDR) of the Music Demixing Challenge 2021 (Y. Mitsufuji et al., "Music
Demixing Challenge 2021", Frontiers in Signal Processing 1, 2022) and of the Hybrid Demucs /
HT Demucs papers (A. Defossez, "Hybrid spectrogram and waveform source separation", MDX
workshop 2021; S. Rouard et al., "Hybrid transformers for music source separation", ICASSP
2023; `demucs.evaluate.new_sdr`):

    SDR = 10 log10( (sum ref^2 + eps) / (sum (ref - est)^2 + eps) ),  eps = 1e-7,

summed over every frame and channel of one stem of one song. Unlike BSS Eval's SDR it allows
no distortion filter, so a gain error counts as error, and it is defined for silent stems:
an all-zero estimate of anything scores 0 dB, and a silent estimate of a silent reference
also scores 0 dB (not +inf). Scores of several songs are usually summarised by their median.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from voidline.errors import InvalidInputError

# The challenge's and demucs.evaluate.new_sdr's regulariser (in squared full-scale units).
SDR_EPS = 1e-7

AnyFloatArray = npt.NDArray[np.floating]


def _as_float64(name: str, audio: AnyFloatArray) -> npt.NDArray[np.float64]:
    array = np.asarray(audio, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} holds NaN or infinite samples")
    return array


def sdr(reference: AnyFloatArray, estimate: AnyFloatArray, eps: float = SDR_EPS) -> float:
    """nSDR of one estimate against its reference, dB (any shape, the same for both)."""
    ref = _as_float64("reference", reference)
    est = _as_float64("estimate", estimate)
    if ref.shape != est.shape:
        raise InvalidInputError(
            f"reference {ref.shape} and estimate {est.shape} must have the same shape"
        )
    if not (math.isfinite(eps) and eps > 0.0):
        raise InvalidInputError(f"eps must be a positive finite number, got {eps!r}")
    signal = float(np.sum(ref * ref))
    error = float(np.sum((ref - est) ** 2))
    return 10.0 * math.log10((signal + eps) / (error + eps))


def score_stems(
    references: Mapping[str, AnyFloatArray],
    estimates: Mapping[str, AnyFloatArray],
    eps: float = SDR_EPS,
) -> dict[str, float]:
    """nSDR per stem, dB, for every stem of `references` (each must have an estimate)."""
    missing = sorted(set(references) - set(estimates))
    if missing:
        raise InvalidInputError(f"no estimate for the stems {', '.join(missing)}")
    return {name: sdr(references[name], estimates[name], eps) for name in references}
