"""Mastering DSP: equaliser, crossover, compressor, stereo and the other stages of the chain."""
