"""The config-first stream protocol every audio servicer shares (see docs/architecture.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from voidline.errors import InvalidInputError


async def first_config(requests: AsyncIterator[Any]) -> Any:
    """The config of a stream's first message (a `oneof request { config; audio }`).

    InvalidInputError when the stream ends first, or the first message is audio or empty.
    """
    first = await anext(requests, None)
    if first is None:
        raise InvalidInputError("the stream ended before the config; send the config first")
    kind = first.WhichOneof("request")
    if kind != "config":
        raise InvalidInputError(
            "the first message must carry the config"
            + ("; audio arrived first" if kind == "audio" else "; it is empty")
        )
    return first.config


def audio_payload(request: Any, max_chunk_bytes: int) -> bytes:
    """The audio bytes of a message after the first (a `oneof request { config; audio }`).

    InvalidInputError for a second config, an empty message, or a chunk over the cap.
    """
    kind = request.WhichOneof("request")
    if kind == "config":
        raise InvalidInputError("a second config arrived; only the first message may carry it")
    if kind != "audio":
        raise InvalidInputError(
            "an empty message arrived; every message after the first must carry audio"
        )
    data: bytes = request.audio.data
    if len(data) > max_chunk_bytes:
        raise InvalidInputError(
            f"audio chunk of {len(data)} bytes is over the {max_chunk_bytes}-byte cap per "
            "message (max_chunk_bytes); send about 100 ms per message"
        )
    return data
