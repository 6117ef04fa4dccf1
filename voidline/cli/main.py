"""The `voidline` command: `up`, `status`, `analyze`, `master`, `stems`, `transcribe`,
`feedback`, `models`, `retrain` and `train`.

Exit codes: 0 success, 1 a failed call or an unhealthy service, 2 a usage or local input error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from voidline.cli import feedback as feedback_command
from voidline.cli import master as master_command
from voidline.cli import state
from voidline.cli import stems as stems_command
from voidline.cli import train as train_command
from voidline.cli import transcribe as transcribe_command
from voidline.cli.analyze import analyze, resolve_options
from voidline.cli.status import status
from voidline.cli.up import DEFAULT_PORT, up
from voidline.stems.model_folder import MODEL_DIR_ENV


def _add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        help=f"state directory of `voidline up` [env {state.HOME_ENV}, default ~/.voidline]",
    )


def _add_api_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"API key [env {state.API_KEY_ENV}, else the key `voidline up` saved]",
    )


def _add_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        metavar="HOST:PORT",
        help=f"gateway address [env {state.GATEWAY_ENV}, else the one `voidline up` started, "
        f"else {state.DEFAULT_GATEWAY}]",
    )


def _until_interrupted(command: Callable[[], int]) -> int:
    """Run a streaming command; Ctrl-C exits 130 (leaving the channel cancels the call)."""
    try:
        return command()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voidline", description="Voidline AI mastering backend: run it locally and use it."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_up = commands.add_parser(
        "up", help="run the gateway and all services here, in the foreground (Ctrl-C stops)"
    )
    p_up.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"gateway port (default {DEFAULT_PORT})"
    )
    _add_home(p_up)

    p_status = commands.add_parser("status", help="show each service's address and health")
    p_status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_home(p_status)
    _add_gateway(p_status)

    p_analyze = commands.add_parser("analyze", help="analyse an audio file through the gateway")
    p_analyze.add_argument("file", help="WAV, FLAC, OGG or MP3 file")
    p_analyze.add_argument("--json", action="store_true", help="print one JSON object")
    p_analyze.add_argument(
        "--chunk-ms",
        type=float,
        default=100.0,
        help="milliseconds of audio per streamed message (default 100)",
    )
    p_analyze.add_argument(
        "--target-lufs", type=float, help="loudness the score is judged against (default -14)"
    )
    p_analyze.add_argument(
        "--interim",
        action="store_true",
        help="print the live meter (M, S, I, true peak) each second of audio on stderr",
    )
    _add_api_key(p_analyze)
    _add_gateway(p_analyze)
    _add_home(p_analyze)

    p_master = commands.add_parser("master", help="master an audio file through the gateway")
    p_master.add_argument("input", help="WAV, FLAC, OGG or MP3 file")
    p_master.add_argument("output", help="where to write the master")
    p_master.add_argument(
        "--target",
        metavar="NAME|LUFS",
        help="streaming (default), apple, podcast, broadcast, club, cd, or a LUFS value",
    )
    p_master.add_argument("--ceiling", type=float, metavar="DBTP", help="true-peak ceiling, dBTP")
    p_master.add_argument(
        "--intensity", type=float, metavar="X", help="0-1: how much of the correction (default 1)"
    )
    p_master.add_argument("--style", help="balanced (default), warm, bright, punchy, open")
    p_master.add_argument("--reference", metavar="REF", help="a reference track to match")
    p_master.add_argument(
        "--reference-amount", type=float, metavar="X", help="0-1: how much to match (default 1)"
    )
    p_master.add_argument(
        "--format",
        choices=sorted(master_command.FORMATS),
        help="output format (default: from OUT's extension, else wav24)",
    )
    p_master.add_argument("--json", action="store_true", help="print one JSON object")
    p_master.add_argument(
        "--no-cache", action="store_true", help="master again even if an identical job is cached"
    )
    _add_api_key(p_master)
    _add_gateway(p_master)
    _add_home(p_master)

    p_stems = commands.add_parser(
        "stems", help="separate an audio file into stems through the gateway (one file each)"
    )
    p_stems.add_argument("input", help="WAV, FLAC, OGG or MP3 file")
    p_stems.add_argument("out_dir", metavar="OUTDIR", help="folder for <stem>.wav files")
    p_stems.add_argument("--model", default="", help="demucs model (default: the service's)")
    p_stems.add_argument(
        "--backend",
        choices=sorted(stems_command.BACKENDS),
        default="auto",
        help="auto (demucs when installed, else dsp), demucs or dsp",
    )
    p_stems.add_argument(
        "--stems", metavar="LIST", help="comma-separated stems, e.g. vocals,drums (default all)"
    )
    p_stems.add_argument(
        "--shifts", type=int, default=0, help="random shifts averaged (slower, a bit better)"
    )
    p_stems.add_argument("--overlap", type=float, help="segment overlap 0-0.9 (default 0.25)")
    p_stems.add_argument(
        "--format",
        choices=sorted(stems_command.FORMATS),
        default="wav",
        help="stem files: wav (24-bit, default), wav16, f32, flac",
    )
    p_stems.add_argument("--json", action="store_true", help="print one JSON object")
    _add_api_key(p_stems)
    _add_gateway(p_stems)
    _add_home(p_stems)

    p_transcribe = commands.add_parser(
        "transcribe", help="print a timed transcript of an audio file (faster-whisper)"
    )
    p_transcribe.add_argument("input", help="WAV, FLAC, OGG or MP3 file")
    p_transcribe.add_argument(
        "--model", default="", help="whisper model folder name (default: the service's)"
    )
    p_transcribe.add_argument(
        "--language", default="", help="language code such as en (default: detect)"
    )
    p_transcribe.add_argument(
        "--vocals-first", action="store_true", help="separate the vocals first, transcribe them"
    )
    p_transcribe.add_argument(
        "--separation-backend",
        choices=sorted(stems_command.BACKENDS),
        default="auto",
        help="how --vocals-first separates (default auto)",
    )
    p_transcribe.add_argument("--vad", action="store_true", help="skip non-speech (Silero VAD)")
    p_transcribe.add_argument("--words", action="store_true", help="word-level timestamps")
    p_transcribe.add_argument("--beam-size", type=int, default=0, help="1-10 (default 5)")
    p_transcribe.add_argument(
        "--translate", action="store_true", help="translate to English instead"
    )
    p_transcribe.add_argument("--json", action="store_true", help="print one JSON object")
    _add_api_key(p_transcribe)
    _add_gateway(p_transcribe)
    _add_home(p_transcribe)

    p_models = commands.add_parser(
        "models", help="list installed Demucs and Whisper models and how to install them"
    )
    p_models.add_argument(
        "--model-dir",
        metavar="DIR",
        help=f"model folder [env {MODEL_DIR_ENV}, default ~/.voidline/models]",
    )
    p_models.add_argument(
        "--verify", action="store_true", help="hash every Demucs weight file against its name"
    )
    p_models.add_argument("--json", action="store_true", help="print one JSON object")
    model_commands = p_models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    p_status_models = model_commands.add_parser(
        "status", help="the mastering model: current version, feedback, updates, drift"
    )
    p_status_models.add_argument("--json", action="store_true", help="print one JSON object")
    p_promote = model_commands.add_parser("promote", help="make a model version current")
    p_promote.add_argument("version")
    p_promote.add_argument(
        "--force", action="store_true", help="promote even a version the learner rejected"
    )
    p_rollback = model_commands.add_parser("rollback", help="make the previous version current")
    for sub in (p_status_models, p_promote, p_rollback):
        _add_api_key(sub)
        _add_gateway(sub)
        _add_home(sub)

    p_feedback = commands.add_parser("feedback", help="rate a master (1-5) for the model to learn")
    p_feedback.add_argument("job_id", metavar="JOB_ID", help="a master's job id")
    p_feedback.add_argument("--rating", type=int, required=True, help="1 (bad) to 5 (great)")
    p_feedback.add_argument(
        "--prefer", metavar="JOB_ID", help="another master of the same song you liked better"
    )
    p_feedback.add_argument(
        "--over", metavar="JOB_ID", help="another master you liked less than this one"
    )
    p_feedback.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a parameter as you wanted it, e.g. high_shelf_db=2.5 (repeatable)",
    )
    p_feedback.add_argument("--comment", default="", help="free text")
    p_feedback.add_argument("--key", help="idempotency key (a retry with it is stored once)")
    p_feedback.add_argument("--json", action="store_true", help="print one JSON object")
    _add_api_key(p_feedback)
    _add_gateway(p_feedback)
    _add_home(p_feedback)

    p_retrain = commands.add_parser(
        "retrain", help="learn from the pending feedback now; promote the result if it passes"
    )
    p_retrain.add_argument("--json", action="store_true", help="print one JSON object")
    _add_api_key(p_retrain)
    _add_gateway(p_retrain)
    _add_home(p_retrain)

    train_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ
    if args.command == "up":
        if not 0 <= args.port <= 65535:
            print("error: --port must be 0 to 65535", file=sys.stderr)
            return 2
        return up(
            port=args.port,
            home=state.resolve_home(args.home, env),
            env=env,
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
    if args.command == "status":
        return status(state.resolve_home(args.home, env), args.gateway, args.json, env, sys.stdout)
    if args.command == "train":
        return train_command.run(args)
    if args.command in ("feedback", "retrain") or (
        args.command == "models" and args.models_command
    ):
        connection = state.resolve_connection(args.gateway, args.api_key, args.home, env)
        gateway, key = connection.gateway, connection.api_key
        if args.command == "feedback":
            return feedback_command.feedback(
                gateway, key, args.job_id, args.rating, args.prefer, args.over, args.set,
                args.comment, args.key, args.json, sys.stdout, sys.stderr,
            )  # fmt: skip
        if args.command == "retrain":
            return feedback_command.retrain(gateway, key, args.json, sys.stdout, sys.stderr)
        if args.models_command == "status":
            return feedback_command.models_status(gateway, key, args.json, sys.stdout, sys.stderr)
        version = args.version if args.models_command == "promote" else None
        force = bool(getattr(args, "force", False))
        return feedback_command.models_switch(gateway, key, version, force, sys.stdout, sys.stderr)
    if args.command == "models":
        from voidline.cli import models as models_command  # imports scipy: only when needed

        model_dir = models_command.resolve_model_dir(args.model_dir, env)
        return models_command.models(model_dir, args.verify, args.json, sys.stdout)
    if args.command == "transcribe":
        transcribe_options = transcribe_command.resolve_options(
            gateway=args.gateway,
            api_key=args.api_key,
            home=args.home,
            env=env,
            source=Path(args.input),
            model=args.model,
            language=args.language,
            vocals_first=args.vocals_first,
            separation_backend=args.separation_backend,
            vad=args.vad,
            words=args.words,
            beam_size=args.beam_size,
            translate=args.translate,
            as_json=args.json,
        )
        return _until_interrupted(
            lambda: transcribe_command.transcribe(transcribe_options, sys.stdout, sys.stderr)
        )
    if args.command == "stems":
        stems_options = stems_command.resolve_options(
            gateway=args.gateway,
            api_key=args.api_key,
            home=args.home,
            env=env,
            source=Path(args.input),
            out_dir=Path(args.out_dir),
            model=args.model,
            backend=args.backend,
            stems=tuple(s.strip() for s in args.stems.split(",") if s.strip())
            if args.stems
            else (),
            shifts=args.shifts,
            overlap=args.overlap,
            file_format=args.format,
            as_json=args.json,
        )
        return _until_interrupted(
            lambda: stems_command.separate(stems_options, sys.stdout, sys.stderr)
        )
    if args.command == "master":
        master_options = master_command.resolve_options(
            gateway=args.gateway,
            api_key=args.api_key,
            home=args.home,
            env=env,
            source=Path(args.input),
            output=Path(args.output),
            target=args.target,
            ceiling_dbtp=args.ceiling,
            intensity=args.intensity,
            style=args.style,
            reference=Path(args.reference) if args.reference else None,
            reference_amount=args.reference_amount,
            output_format=args.format,
            as_json=args.json,
            no_cache=args.no_cache,
        )
        return _until_interrupted(
            lambda: master_command.master(master_options, sys.stdout, sys.stderr)
        )
    options = resolve_options(
        path=args.file,
        gateway=args.gateway,
        api_key=args.api_key,
        home=args.home,
        chunk_ms=args.chunk_ms,
        target_lufs=args.target_lufs,
        as_json=args.json,
        interim=args.interim,
        env=env,
    )
    try:
        return analyze(options, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        # Leaving the channel's `with` block has already cancelled the call on the server.
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
