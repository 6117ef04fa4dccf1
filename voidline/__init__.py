"""Voidline core library: audio I/O and DSP/analysis in plain numpy/scipy.

The domain packages (voidline.audio, voidline.analysis) import no gRPC; the generated API
stubs live in voidline.v1 and the command-line client in voidline.cli.
"""

__version__ = "0.1.0"
