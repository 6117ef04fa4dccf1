"""`voidline train`: build the training set, train the parameter model, export and quantise it.

Writes `parameter_model.onnx`, `parameter_model.int8.onnx`, `model_card.json` and
`MODEL_CARD.md` into --out; progress goes to stderr, the validation metrics (model and
constant baseline) to stdout. Needs the `train` extra (torch, onnx, onnxscript); the import
happens only when the command runs, so the rest of the CLI starts without torch.

Exit codes: 0 trained, 1 training or export failed, 2 a usage or local input error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from voidline.errors import FailedPreconditionError, InvalidInputError

if TYPE_CHECKING:  # imported when the command runs: torch is heavy and optional
    from voidline.mastering.train import EpochReport, TrainConfig

DEFAULT_OUT = "parameter-model"
PROGRESS_STEPS = 20  # data-set progress lines per run


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register `train` and its options on the `voidline` command's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="train the mastering parameter model (needs the train extra: torch)",
        description="Build the synthetic training set, train the parameter model, export it "
        "to ONNX (fp32 and int8) and write its model card. Unset options take the standard "
        "configuration's values (printed at the start), or the tiny one's with --tiny.",
    )
    parser.add_argument(
        "--out", metavar="DIR", default=DEFAULT_OUT, help=f"model folder (default {DEFAULT_OUT})"
    )
    parser.add_argument("--seed", type=int, default=1, help="data and training seed (default 1)")
    parser.add_argument("--examples", type=int, metavar="N", help="training examples to build")
    parser.add_argument("--epochs", type=int, metavar="N", help="most epochs to train")
    parser.add_argument("--seconds", type=float, metavar="S", help="seconds of audio per example")
    parser.add_argument(
        "--workers", type=int, metavar="N", help="processes building the data (default 1)"
    )
    parser.add_argument(
        "--patience", type=int, metavar="N", help="stop after N epochs without improvement"
    )
    parser.add_argument(
        "--eq-response-weight",
        type=float,
        metavar="X",
        help="weight of the EQ response loss against the parameter loss (0: off)",
    )
    parser.add_argument(
        "--compressor-curve-weight",
        type=float,
        metavar="X",
        help="weight of the compressor gain-curve loss against the parameter loss (0: off)",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="a seconds-long configuration (smoke tests)"
    )
    parser.add_argument(
        "--dataset",
        metavar="FILE.npz",
        help="read the training set from FILE when it exists, else build it and save it there",
    )
    return parser


def _config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the options describe (raises InvalidInputError on bad values)."""
    from voidline.mastering.train import TrainConfig

    base = TrainConfig.tiny(args.seed) if args.tiny else TrainConfig(seed=args.seed)
    overrides = {
        "n_examples": args.examples,
        "epochs": args.epochs,
        "seconds": args.seconds,
        "workers": args.workers,
        "patience": args.patience,
        "eq_response_loss_weight": args.eq_response_weight,
        "compressor_curve_loss_weight": args.compressor_curve_weight,
    }
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})


class _Progress:
    """Data-set progress in about PROGRESS_STEPS lines, and one line per epoch."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._started = time.monotonic()
        self._last_step = -1

    def _write(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        self._stream.write(f"[{elapsed:7.1f} s] {text}\n")
        self._stream.flush()

    def examples(self, done: int, total: int) -> None:
        step = done * PROGRESS_STEPS // max(total, 1)
        if step != self._last_step or done == total:
            self._last_step = step
            self._write(f"data: {done}/{total} examples")

    def epoch(self, report: EpochReport) -> None:
        self._write(
            f"epoch {report.epoch}: train loss {report.train_loss:.5f}, validation loss "
            f"{report.validation_loss:.5f} (best epoch {report.best_epoch})"
        )


def _print_summary(card: dict[str, Any], out: Path, stream: TextIO) -> None:
    from voidline.mastering.train import SUMMARY_METRICS

    model = card["metrics"]["model"]
    baseline = card["metrics"]["constant_mean_baseline"]
    stream.write(f"model {card['version']} in {out}\n")
    for precision, entry in card["files"].items():
        stream.write(f"  {precision:5s} {entry['path']}  sha256 {entry['sha256']}\n")
    training = card["training"]
    stream.write(
        f"validation metrics ({training['validation_examples']} examples, best epoch "
        f"{training['best_epoch']} of {training['epochs_run']}):\n"
    )
    stream.write(f"  {'metric':50s} {'model':>10s} {'baseline':>10s}\n")
    for key, label, unit in SUMMARY_METRICS:
        name = f"{label} [{unit}]"
        stream.write(f"  {name:50s} {model[key]:10.4g} {baseline[key]:10.4g}\n")
    stream.write(f"reproduce: {card['reproduce']}\n")
    stream.flush()


def run(args: argparse.Namespace) -> int:
    """Carry out `voidline train` with parsed options; returns the exit code."""
    try:
        from voidline.mastering.train import train_and_export
    except ImportError as error:
        print(
            f"error: training needs the train extra (pip install 'voidline[train]'): {error}",
            file=sys.stderr,
        )
        return 2
    try:
        config = _config(args)
    except InvalidInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    dataset = Path(args.dataset) if args.dataset else None
    print(f"training with {config}", file=sys.stderr)
    progress = _Progress(sys.stderr)
    try:
        card = train_and_export(
            config, out, dataset=dataset, on_examples=progress.examples, on_epoch=progress.epoch
        )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except InvalidInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (FailedPreconditionError, OSError, RuntimeError, ImportError) as error:
        print(f"error: training failed: {error}", file=sys.stderr)
        return 1
    _print_summary(card, out, sys.stdout)
    return 0
