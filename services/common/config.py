"""Typed settings for every server process: one frozen dataclass, filled from flags and env.

A service declares its settings as a dataclass that extends `ServerSettings`; `load_settings`
turns every field `foo_bar` into a flag `--foo-bar` and an environment variable
`{PREFIX}FOO_BAR`. Precedence, highest first: flag, environment, `defaults` passed by the
caller, the field's own default. Values are converted from the field's annotation.

Optional per-field metadata (`dataclasses.field(metadata={...})`):
- "help": one line for `--help`;
- "flags": extra flag spellings, e.g. ("--backend",) for a tuple field `backends`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

S = TypeVar("S", bound="ServerSettings")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """Settings every gRPC server process shares."""

    host: str = dataclasses.field(
        default="127.0.0.1", metadata={"help": "address the gRPC server binds"}
    )
    port: int = dataclasses.field(default=0, metadata={"help": "gRPC port; 0 lets the OS pick"})
    metrics_host: str = dataclasses.field(
        default="127.0.0.1", metadata={"help": "address the /metrics HTTP server binds"}
    )
    metrics_port: int = dataclasses.field(
        default=0,
        metadata={"help": "/metrics HTTP port; 0 lets the OS pick, -1 disables it"},
    )
    grace_s: float = dataclasses.field(
        default=10.0, metadata={"help": "seconds in-flight calls get to finish on shutdown"}
    )
    drain_pause_s: float = dataclasses.field(
        default=0.5,
        metadata={"help": "seconds between health NOT_SERVING and refusing new calls"},
    )
    max_receive_message_bytes: int = dataclasses.field(
        default=65 * 1024 * 1024, metadata={"help": "largest message the server accepts"}
    )
    max_send_message_bytes: int = dataclasses.field(
        default=65 * 1024 * 1024, metadata={"help": "largest message the server sends"}
    )
    log_level: str = dataclasses.field(
        default="INFO", metadata={"help": "DEBUG, INFO, WARNING, ERROR or CRITICAL"}
    )

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, got {self.port}")
        if not -1 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be -1 to 65535, got {self.metrics_port}")
        if self.grace_s < 0 or self.drain_pause_s < 0:
            raise ValueError("grace_s and drain_pause_s must not be negative")
        if self.max_receive_message_bytes <= 0 or self.max_send_message_bytes <= 0:
            raise ValueError("message size limits must be positive")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(
                f"log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {self.log_level!r}"
            )


class _Unset:
    """Marks a flag the command line did not give (None can be a real value)."""


_UNSET = _Unset()


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _converter(annotation: Any) -> Callable[[str], Any]:
    """A function from the text of a flag or env var to a value of type `annotation`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        convert_inner = _converter(inner)

        def optional(text: str) -> Any:
            return None if text.strip().lower() in {"", "none"} else convert_inner(text)

        return optional
    if origin is tuple:
        convert_item = _converter(args[0])

        def items(text: str) -> tuple[Any, ...]:
            return tuple(convert_item(part.strip()) for part in text.split(",") if part.strip())

        return items
    if annotation is bool:
        return _parse_bool
    if annotation is int:
        return _parse_int
    if annotation is float:
        return _parse_float
    if annotation in (str, Path):
        return typing.cast(Callable[[str], Any], annotation)
    raise TypeError(f"load_settings cannot convert fields of type {annotation!r}")


def _kind(annotation: Any) -> str:
    """A short type name for --help and error messages."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is tuple:
        return f"comma-separated list of {_kind(args[0])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind(a) for a in args if a is not type(None)) + " (empty for none)"
    return getattr(annotation, "__name__", str(annotation))


def _program_name() -> str | None:
    """The name usage lines show: "python -m services.analysis" when run with -m."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None or not spec.name:
        return None
    return f"python -m {spec.name.removesuffix('.__main__')}"


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "(none)"
    return repr(value) if isinstance(value, str) else str(value)


def load_settings(
    cls: type[S], env_prefix: str, argv: Sequence[str] | None = None, **defaults: object
) -> S:
    """Build `cls` from flags (`argv`, default sys.argv[1:]), env vars and `defaults`.

    A value that does not convert, or that the dataclass rejects in `__post_init__`, ends the
    process with a usage message naming the flag and env var (argparse exit status 2).
    """
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    unknown = set(defaults) - {f.name for f in fields}
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")

    description = (cls.__doc__ or "").strip()
    if description.startswith(f"{cls.__name__}("):
        description = ""  # the signature dataclasses writes when a class has no docstring
    parser = argparse.ArgumentParser(prog=_program_name(), description=description or None)
    for f in fields:
        annotation = hints[f.name]
        env_name = env_prefix + f.name.upper()
        if f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        # Extra spellings first: argparse shows the first one in the usage line.
        flags = [*f.metadata.get("flags", ()), "--" + f.name.replace("_", "-")]
        help_text = f.metadata.get("help", "")
        if typing.get_origin(annotation) is not None:  # tuple or optional: say how to write it
            help_text = f"{help_text}{'; ' if help_text else ''}{_kind(annotation)}"
        help_text += f" [env {env_name}, default {_show(default)}]"
        # argparse treats % as a format character in help strings.
        help_text = help_text.replace("%", "%%")
        options: dict[str, Any] = {"dest": f.name, "default": _UNSET, "help": help_text}
        if typing.get_origin(annotation) is tuple:
            # Repeatable, values concatenated; argparse's append needs None as the default.
            options.update(action="append", metavar="VALUE", default=None)
        elif annotation is bool:
            options.update(nargs="?", const="true", metavar="BOOL")  # bare flag means true
        else:
            options.update(metavar=_kind(annotation).split(" ")[0].upper())
        parser.add_argument(*flags, **options)

    parsed = vars(parser.parse_args(list(sys.argv[1:] if argv is None else argv)))

    values: dict[str, Any] = {}
    for f in fields:
        convert = _converter(hints[f.name])
        env_name = env_prefix + f.name.upper()
        flag = "--" + f.name.replace("_", "-")
        given = parsed[f.name]
        if given is None:
            given = _UNSET  # a tuple flag that was not given
        try:
            if not isinstance(given, _Unset):
                if isinstance(given, list):  # an appended tuple flag
                    values[f.name] = tuple(item for text in given for item in convert(text))
                else:
                    values[f.name] = convert(given)
            elif env_name in os.environ:
                values[f.name] = convert(os.environ[env_name])
            elif f.name in defaults:
                values[f.name] = defaults[f.name]
        except ValueError as exc:
            source = flag if not isinstance(given, _Unset) else f"env {env_name} ({flag})"
            parser.error(f"invalid value for {source}: {exc}")
    try:
        return cls(**values)
    except ValueError as exc:
        parser.error(f"invalid settings: {exc}")
