"""Band-limited oscillators, envelopes and small filters, vectorised with numpy.

Sawtooth and pulse waves use PolyBLEP (V. Valimaki and A. Huovilainen, "Antialiasing
oscillators in subtractive synthesis", IEEE Signal Processing Magazine 24(2), 2007): the
naive waveform's jumps are smoothed by a two-sample polynomial residual, which pushes the
aliases of a 44.1 kHz saw tens of dB down at no more cost than a mask. Only the samples next
to a jump need the correction, so it is applied through index arrays.

Envelopes are linear attacks and exponential decays and releases, the shapes of analogue
envelope generators; the filters are RBJ cookbook biquads from `voidline.dsp.biquad` and a
first-order low-pass.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
from numpy.typing import NDArray

from voidline.dsp.biquad import highpass, lowpass

FloatArray = NDArray[np.float64]
DECAY_BLOCK = 256


def _wrapped(cycles: FloatArray) -> FloatArray:
    """cycles - floor(cycles), in place (several times faster than cycles % 1.0)."""
    cycles -= np.floor(cycles)
    return cycles


def _ramp(n: int, step: float, start: float = 0.0) -> FloatArray:
    """start + step * [0, 1, ..., n - 1], built in place."""
    out = np.arange(n, dtype=np.float64)
    out *= step
    out += start
    return out


def phase(freq_hz: float | FloatArray, n: int, fs: int, start: float = 0.0) -> FloatArray:
    """Oscillator phase in cycles, wrapped to [0, 1): constant or per-sample frequency."""
    if isinstance(freq_hz, np.ndarray):
        cycles = np.cumsum(freq_hz) / fs
        cycles += start
    else:
        cycles = _ramp(n, freq_hz / fs, start)
    return _wrapped(cycles)


def _blep(p: FloatArray, dt: FloatArray | float) -> FloatArray:
    """PolyBLEP residual of a unit downward jump at phase 0, for phase p and increment dt."""
    out = np.zeros_like(p)
    dt_arr = np.broadcast_to(np.asarray(dt, dtype=np.float64), p.shape)
    rising = np.nonzero(p < dt_arr)[0]
    x = p[rising] / dt_arr[rising]
    out[rising] = 2.0 * x - x * x - 1.0
    falling = np.nonzero(p > 1.0 - dt_arr)[0]
    x = (p[falling] - 1.0) / dt_arr[falling]
    out[falling] = x * x + 2.0 * x + 1.0
    return out


def saw(p: FloatArray, dt: FloatArray | float) -> FloatArray:
    """Band-limited sawtooth (-1 to 1 ramp) from phase p; dt = freq / fs."""
    return 2.0 * p - 1.0 - _blep(p, dt)


def saw_tone(freq_hz: float, n: int, fs: int, start: float = 0.0) -> FloatArray:
    """Band-limited sawtooth of constant frequency: PolyBLEP applied at the known jumps.

    With a fixed increment dt the phase wraps at samples ceil((m - start) / dt), so the
    correction touches two samples per cycle and costs O(cycles), not O(samples).
    """
    dt = freq_hz / fs
    p = _wrapped(_ramp(n, dt, start))
    out = 2.0 * p
    out -= 1.0
    if dt <= 0.0 or dt >= 0.5:
        return out
    wraps = np.ceil((np.arange(0, int(start + n * dt) + 2) - start) / dt).astype(np.int64)
    after = wraps[(wraps >= 0) & (wraps < n)]  # first sample of each new cycle: p < dt
    x = p[after] / dt
    valid = x < 1.0  # rounding may put a jump one sample off: correct only true neighbours
    out[after[valid]] -= 2.0 * x[valid] - x[valid] * x[valid] - 1.0
    before = wraps[(wraps >= 1) & (wraps <= n)] - 1  # last sample of each cycle: p > 1 - dt
    x = (p[before] - 1.0) / dt
    valid = x > -1.0
    out[before[valid]] -= x[valid] * x[valid] + 2.0 * x[valid] + 1.0
    return out


def pulse(p: FloatArray, dt: FloatArray | float, width: float = 0.5) -> FloatArray:
    """Band-limited pulse of duty cycle `width` (0.5: square) as the difference of two saws."""
    shifted = (p + (1.0 - width)) % 1.0
    return 0.5 * (saw(p, dt) - saw(shifted, dt))


def triangle(p: FloatArray) -> FloatArray:
    """Triangle (harmonics fall 12 dB/octave, so aliasing is negligible without correction)."""
    return 4.0 * np.abs(p - 0.5) - 1.0


def sine(p: FloatArray) -> FloatArray:
    return np.sin(2.0 * np.pi * p)


def sine_tone(
    freq_hz: float, n: int, fs: int, start: float = 0.0, modulation: FloatArray | None = None
) -> FloatArray:
    """sin(2 pi (start + f t) + modulation): a constant-frequency sine, optionally phase
    modulated (two-operator FM when modulation is another sine times an index)."""
    radians = _ramp(n, 2.0 * np.pi * freq_hz / fs, 2.0 * np.pi * start)
    if modulation is not None:
        radians += modulation
    return np.sin(radians, out=radians)


def adsr(
    n_held: int,
    n_total: int,
    fs: int,
    attack_s: float,
    decay_s: float,
    sustain: float,
    release_s: float,
) -> FloatArray:
    """ADSR envelope: linear attack, exponential decay to `sustain`, exponential release.

    n_held samples with the key down, n_total samples in all (n_total - n_held of release).
    Time constants: the decay and release fall by 1/e per decay_s / release_s. The decay is
    computed only until it is within 1e-4 of the sustain level (about 9.2 time constants).
    """
    env = np.full(n_total, float(sustain))
    n_attack = min(n_total, max(1, round(attack_s * fs)))
    env[:n_attack] = np.arange(n_attack) / n_attack
    n_decay = min(n_total - n_attack, int(9.2 * max(decay_s, 1e-4) * fs) + 1)
    if n_decay > 0:
        env[n_attack : n_attack + n_decay] = sustain + (1.0 - sustain) * decay(
            n_decay, fs, max(decay_s, 1e-4)
        )
    if n_held < n_total:
        level = env[max(n_held - 1, 0)]
        env[n_held:] = level * decay(n_total - n_held, fs, max(release_s, 1e-4))
    return env


def decay(n: int, fs: int, time_constant_s: float) -> FloatArray:
    """Exponential decay exp(-t / tau) over n samples.

    exp(-(k B + j) / (fs tau)) = exp(-k B / (fs tau)) exp(-j / (fs tau)): an outer product of
    two short exponentials, one multiplication per sample instead of one exp.
    """
    rate = -1.0 / (fs * time_constant_s)
    blocks = -(-n // DECAY_BLOCK)
    coarse = np.exp(_ramp(blocks, rate * DECAY_BLOCK))
    fine = np.exp(_ramp(DECAY_BLOCK, rate))
    return np.multiply.outer(coarse, fine).ravel()[:n]


def filtered(sos: FloatArray, x: FloatArray) -> FloatArray:
    """x (1-D, or (frames, channels) filtered along axis 0) through the sections."""
    return np.asarray(scipy.signal.sosfilt(sos, x, axis=0), dtype=np.float64)


def lowpassed(x: FloatArray, f_hz: float, fs: int, q: float = 0.7071, order: int = 2) -> FloatArray:
    """RBJ low-pass, `order` // 2 identical sections (2 or 4); corner clamped below 0.45 fs."""
    section = lowpass(min(f_hz, 0.45 * fs), fs, q)
    return filtered(np.vstack([section] * max(1, order // 2)), x)


def highpassed(
    x: FloatArray, f_hz: float, fs: int, q: float = 0.7071, order: int = 2
) -> FloatArray:
    """RBJ high-pass, `order` // 2 identical sections; corner clamped below 0.45 fs."""
    section = highpass(min(f_hz, 0.45 * fs), fs, q)
    return filtered(np.vstack([section] * max(1, order // 2)), x)


def bandpassed(x: FloatArray, low_hz: float, high_hz: float, fs: int) -> FloatArray:
    """Band between low_hz and high_hz: a high-pass and a low-pass section in cascade."""
    sos = np.vstack([highpass(min(low_hz, 0.45 * fs), fs), lowpass(min(high_hz, 0.45 * fs), fs)])
    return filtered(sos, x)


def one_pole_lowpass(x: FloatArray, f_hz: float, fs: int) -> FloatArray:
    """First-order low-pass (6 dB/octave) along axis 0: impulse-invariant one-pole."""
    a = math.exp(-2.0 * math.pi * f_hz / fs)
    return np.asarray(scipy.signal.lfilter([1.0 - a], [1.0, -a], x, axis=0), dtype=np.float64)


def resonator_sos(f_hz: float, bandwidth_hz: float, fs: int) -> FloatArray:
    """Two-pole resonator (D. Klatt, "Software for a cascade/parallel formant synthesizer",
    JASA 67(3), 1980): poles at f_hz with the given -3 dB bandwidth, unity gain at DC."""
    r = math.exp(-math.pi * bandwidth_hz / fs)
    c = -r * r
    b = 2.0 * r * math.cos(2.0 * math.pi * f_hz / fs)
    a = 1.0 - b - c
    return np.array([[a, 0.0, 0.0, 1.0, -b, -c]])


def delayed(x: FloatArray, samples: int) -> FloatArray:
    """x delayed by `samples` (>= 0) along axis 0, same length (the tail is dropped)."""
    if samples <= 0:
        return x.copy()
    out = np.zeros_like(x)
    out[samples:] = x[: x.shape[0] - samples]
    return out


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: pan -1 (left) to 1 (right); centre is -3 dB per side."""
    angle = (min(max(pan, -1.0), 1.0) + 1.0) * math.pi / 4.0
    return math.cos(angle), math.sin(angle)


def place(buffer: FloatArray, start: int, signal: FloatArray, gain: float = 1.0) -> None:
    """Add gain * signal into buffer from sample `start` on, cut at the buffer's end."""
    if start >= buffer.shape[0] or start < 0:
        return
    stop = min(buffer.shape[0], start + signal.shape[0])
    buffer[start:stop] += gain * signal[: stop - start]
