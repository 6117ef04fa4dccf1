"""API keys: who may call which service, and how often.

A caller sends its key in the `x-api-key` metadata (or `authorization: Bearer KEY`). The
gateway keeps only the SHA-256 of each key. Keys are high-entropy random tokens (`voidline up`
makes 256-bit ones), so an unsalted hash is enough: there is no dictionary to try against
it, and salting only defends guessable secrets such as passwords. Hashes are compared with
`hmac.compare_digest` so the comparison time does not depend on how much of a hash matched.

A key's scopes name the services it may call: a service's scope is its short name
(voidline.v1.AnalysisService -> "analysis"), and "*" allows every service.

Keys file (`--keys-file`):

    {"keys": [{"id": "ci", "sha256": "<64 hex>", "scopes": ["analysis"],
               "calls_per_minute": 600}]}

`calls_per_minute` is optional (default `--rate-limit-per-minute`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import prometheus_client

from gateway.ratelimit import RateLimiter

API_KEY_METADATA = "x-api-key"
AUTHORIZATION_METADATA = "authorization"
ALL_SCOPES = "*"

MISSING_KEY_MESSAGE = f"missing API key: send it in the {API_KEY_METADATA} metadata"
UNKNOWN_KEY_MESSAGE = "API key not recognised"

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def hash_key(key: str) -> bytes:
    """The SHA-256 digest of a key as the keys file stores it (there in hex)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def service_scope(service: str) -> str:
    """The scope a service needs: 'voidline.v1.AnalysisService' -> 'analysis'."""
    return service.rsplit(".", 1)[-1].removesuffix("Service").lower()


@dataclass(frozen=True)
class ApiKey:
    """One accepted key, known by its hash."""

    id: str
    sha256: bytes
    scopes: frozenset[str]
    calls_per_minute: float | None = None  # None: the gateway's default

    def allows(self, scope: str) -> bool:
        return ALL_SCOPES in self.scopes or scope in self.scopes


class AccessDeniedError(Exception):
    """A call the gateway refuses: its status code, message and metric reason."""

    def __init__(self, code: grpc.StatusCode, message: str, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


class KeyFileError(ValueError):
    """The keys file cannot be read or is not in the documented format."""


def presented_key(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    """The key a caller sent: `x-api-key`, else `authorization: Bearer KEY`."""
    bearer = None
    for key, value in metadata or ():
        if not isinstance(value, str):
            continue
        if key == API_KEY_METADATA and value.strip():
            return value.strip()
        if key == AUTHORIZATION_METADATA:
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
    return bearer


class KeyRing:
    """The accepted keys."""

    def __init__(self, keys: Sequence[ApiKey] = ()) -> None:
        ids = [k.id for k in keys]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise KeyFileError(f"duplicate key ids: {', '.join(duplicates)}")
        self.keys = tuple(keys)

    def __len__(self) -> int:
        return len(self.keys)

    def with_plain_key(self, key: str, key_id: str = "env") -> KeyRing:
        """This ring plus `key` (a plain key, hashed here) with every scope."""
        return KeyRing([*self.keys, ApiKey(key_id, hash_key(key), frozenset({ALL_SCOPES}))])

    @classmethod
    def load(cls, path: str | Path) -> KeyRing:
        """Read a keys file; raises KeyFileError saying what is wrong and where."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyFileError(f"cannot read keys file {path}: {exc.strerror or exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"keys file {path} is not valid JSON: {exc}") from exc
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise KeyFileError(f'keys file {path} must be an object with a "keys" list')
        return cls([_parse_key(entry, f"{path}: keys[{i}]") for i, entry in enumerate(entries)])

    def authenticate(self, metadata: Iterable[tuple[str, Any]] | None) -> ApiKey:
        """The key the caller presented; AccessDeniedError (UNAUTHENTICATED) if none matches."""
        key = presented_key(metadata)
        if key is None:
            raise AccessDeniedError(grpc.StatusCode.UNAUTHENTICATED, MISSING_KEY_MESSAGE, "missing")
        digest = hash_key(key)
        found = None
        for candidate in self.keys:  # no early exit: every call does the same work
            if hmac.compare_digest(candidate.sha256, digest):
                found = candidate
        if found is None:
            raise AccessDeniedError(grpc.StatusCode.UNAUTHENTICATED, UNKNOWN_KEY_MESSAGE, "unknown")
        return found

    @staticmethod
    def authorize(key: ApiKey, service: str) -> None:
        """AccessDeniedError (PERMISSION_DENIED) unless `key` may call `service`."""
        scope = service_scope(service)
        if not key.allows(scope):
            raise AccessDeniedError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"API key {key.id!r} lacks the scope {scope!r} needed for {service}",
                "scope",
            )


def _parse_key(entry: object, where: str) -> ApiKey:
    if not isinstance(entry, dict):
        raise KeyFileError(f"{where} must be an object")
    key_id, digest, scopes = entry.get("id"), entry.get("sha256"), entry.get("scopes")
    per_minute = entry.get("calls_per_minute")
    if not isinstance(key_id, str) or not key_id:
        raise KeyFileError(f'{where}: "id" must be a non-empty string')
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise KeyFileError(
            f'{where} ({key_id}): "sha256" must be 64 hex digits (SHA-256 of the key)'
        )
    if (
        not isinstance(scopes, list)
        or not scopes
        or not all(isinstance(s, str) and s for s in scopes)
    ):
        raise KeyFileError(
            f'{where} ({key_id}): "scopes" must be a non-empty list such as ["analysis"] or ["*"]'
        )
    if per_minute is not None and (
        isinstance(per_minute, bool)
        or not isinstance(per_minute, int | float)
        or not math.isfinite(per_minute)
        or per_minute <= 0
    ):
        raise KeyFileError(f'{where} ({key_id}): "calls_per_minute" must be a positive number')
    return ApiKey(
        key_id,
        bytes.fromhex(digest),
        frozenset(scopes),
        None if per_minute is None else float(per_minute),
    )


class Gatekeeper:
    """Admits a call (key, scope, rate) or ends it with the right status.

    `keys` None means no authentication at all (`--allow-unauthenticated` with no keys).
    """

    def __init__(
        self,
        keys: KeyRing | None,
        limiter: RateLimiter,
        auth_failures: prometheus_client.Counter,
        rate_limited: prometheus_client.Counter,
    ) -> None:
        self._keys = keys
        self._limiter = limiter
        self._auth_failures = auth_failures
        self._rate_limited = rate_limited

    async def admit(self, service: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Return if the call may go on; otherwise abort it (raises grpc.aio.AbortError)."""
        if self._keys is None:
            return
        try:
            key = self._keys.authenticate(context.invocation_metadata())
            self._keys.authorize(key, service)
        except AccessDeniedError as denied:
            self._auth_failures.labels(denied.reason).inc()
            await context.abort(denied.code, denied.message)
        retry_after_s = self._limiter.acquire(key.id, key.calls_per_minute)
        if retry_after_s > 0:
            self._rate_limited.inc()
            per_minute = key.calls_per_minute or self._limiter.default_per_minute
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit of {per_minute:g} calls per minute exceeded for API key "
                f"{key.id!r}: retry in {retry_after_s:.1f} s",
                trailing_metadata=(("retry-after", str(math.ceil(retry_after_s))),),
            )
