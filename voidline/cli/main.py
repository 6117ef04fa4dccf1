"""The `voidline` command: `up`, `status`, `analyze`, `master` and `train`.

Exit codes: 0 success, 1 a failed call or an unhealthy service, 2 a usage or local input error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from voidline.cli import master as master_command
from voidline.cli import state
from voidline.cli import train as train_command
from voidline.cli.analyze import analyze, resolve_options
from voidline.cli.status import status
from voidline.cli.up import DEFAULT_PORT, up


def _add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        help=f"state directory of `voidline up` [env {state.HOME_ENV}, default ~/.voidline]",
    )


def _add_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        metavar="HOST:PORT",
        help=f"gateway address [env {state.GATEWAY_ENV}, else the one `voidline up` started, "
        f"else {state.DEFAULT_GATEWAY}]",
    )


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
    p_analyze.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"API key [env {state.API_KEY_ENV}, else the key `voidline up` saved]",
    )
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
    p_master.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"API key [env {state.API_KEY_ENV}, else the key `voidline up` saved]",
    )
    _add_gateway(p_master)
    _add_home(p_master)

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
        try:
            return master_command.master(master_options, sys.stdout, sys.stderr)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
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
