"""`voidline feedback`, `voidline models status|promote|rollback` and `voidline retrain`: the
feedback service through the gateway.

`feedback` exits 0 once the service has stored the item durably (the call returns after the
SQLite commit), non-zero with the server's message otherwise. Each invocation sends a fresh
idempotency key unless `--key` gives one, so a retried command with the same key is stored
once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import grpc

from voidline.cli.grpc_client import API_KEY_METADATA, describe_rpc_error, open_channel, rpc_code
from voidline.v1 import feedback_pb2, feedback_pb2_grpc

EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
TIMEOUT_S = 60.0
RETRAIN_TIMEOUT_S = 600.0


def _call(
    gateway: str,
    api_key: str | None,
    stderr: TextIO,
    call: Callable[[Any, list[tuple[str, str]]], Any],
) -> Any | None:
    """Run one call on the FeedbackService stub; None (after saying why) when it failed."""
    metadata = [(API_KEY_METADATA, api_key)] if api_key else []
    try:
        with open_channel(gateway) as channel:
            return call(feedback_pb2_grpc.FeedbackServiceStub(channel), metadata)
    except grpc.RpcError as error:
        stderr.write(f"error: {describe_rpc_error(error)}\n")
        if rpc_code(error) == grpc.StatusCode.UNAVAILABLE:
            stderr.write(f"hint: no gateway answered at {gateway}: run `voidline up`\n")
        return None


def parse_corrections(items: list[str]) -> dict[str, float]:
    """`name=value` pairs (ValueError for anything else)."""
    corrected: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name or not value:
            raise ValueError(f"--set takes NAME=VALUE, got {item!r}")
        corrected[name.strip()] = float(value)
    return corrected


def feedback(
    gateway: str,
    api_key: str | None,
    job_id: str,
    rating: int,
    prefer: str | None,
    over: str | None,
    corrections: list[str],
    comment: str,
    key: str | None,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Submit one rating (and optionally an A/B choice and corrected parameters)."""
    try:
        corrected = parse_corrections(corrections)
    except ValueError as error:
        stderr.write(f"error: {error}\n")
        return EXIT_USAGE
    message = feedback_pb2.Feedback(
        job_id=job_id,
        rating=rating,
        corrected_parameters=corrected,
        comment=comment,
        idempotency_key=key or uuid.uuid4().hex,
    )
    if prefer or over:
        # --prefer B: B was preferred over the rated job; --over B: the rated job over B.
        preferred, other = (prefer, job_id) if prefer else (job_id, over)
        message.preference.preferred_job_id = preferred or ""
        message.preference.other_job_id = other or ""
    response = _call(
        gateway,
        api_key,
        stderr,
        lambda stub, metadata: stub.SubmitFeedback(
            feedback_pb2.SubmitFeedbackRequest(feedback=message),
            metadata=metadata,
            timeout=TIMEOUT_S,
        ),
    )
    if response is None:
        return EXIT_RPC_ERROR
    if as_json:
        data = {
            "feedback_id": response.feedback_id,
            "duplicate": response.duplicate,
            "pending_in_buffer": response.pending_in_buffer,
            "batch_size": response.batch_size,
        }
        stdout.write(json.dumps(data) + "\n")
    else:
        stored = "already stored" if response.duplicate else "stored"
        stdout.write(
            f"feedback {response.feedback_id} {stored}; {response.pending_in_buffer} of "
            f"{response.batch_size} items pending for the next model update\n"
        )
    return EXIT_OK


def version_json(version: Any) -> dict[str, Any]:
    return {
        "version": version.version,
        "state": version.state,
        "created": version.created,
        "parent": version.parent or None,
        "validation": dict(version.validation),
        "sha256": version.sha256,
        "sha256_int8": version.sha256_int8,
        "reason": version.reason or None,
        "promoted_at": version.promoted_at or None,
    }


def status_json(status: Any) -> dict[str, Any]:
    return {
        "current_version": status.current_version,
        "feedback_count": status.feedback_count,
        "pending_in_buffer": status.pending_in_buffer,
        "updates": status.updates,
        "promotions": status.promotions,
        "rejections": status.rejections,
        "rating_counts": {str(k): v for k, v in sorted(status.rating_counts.items())},
        "last_update_reason": status.last_update_reason or None,
        "drift": {
            "window": status.drift_window,
            "alert": status.drift_alert,
            "psi": {group.group: group.psi for group in status.drift},
        },
        "versions": [version_json(v) for v in status.versions],
    }


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"


def format_status(data: Mapping[str, Any]) -> str:
    lines = [
        f"current     {data['current_version']}",
        f"feedback    {data['feedback_count']} items, {data['pending_in_buffer']} pending; "
        f"{data['updates']} updates ({data['promotions']} promoted, "
        f"{data['rejections']} rejected)",
    ]
    drift = data["drift"]
    if drift["psi"]:
        psi = ", ".join(f"{group} {value:.3f}" for group, value in drift["psi"].items())
        lines.append(f"drift       {'ALERT ' if drift['alert'] else ''}PSI {psi}")
    else:
        lines.append(f"drift       {drift['window']} jobs in the window (not enough yet)")
    lines.append("")
    lines.append(f"{'version':<22} {'state':<10} {'created':<16} {'val. mse':>9}  reason")
    for version in data["versions"]:
        mse = version["validation"].get("validation_unit_mse")
        lines.append(
            f"{version['version']:<22} {version['state']:<10} {_when(version['created']):<16} "
            + (f"{mse:9.5f}" if mse is not None else f"{'-':>9}")
            + f"  {version['reason'] or ''}"
        )
    return "\n".join(lines) + "\n"


def models_status(
    gateway: str, api_key: str | None, as_json: bool, stdout: TextIO, stderr: TextIO
) -> int:
    status = _call(
        gateway,
        api_key,
        stderr,
        lambda stub, metadata: stub.GetModelStatus(
            feedback_pb2.GetModelStatusRequest(), metadata=metadata, timeout=TIMEOUT_S
        ),
    )
    if status is None:
        return EXIT_RPC_ERROR
    data = status_json(status)
    stdout.write(json.dumps(data) + "\n" if as_json else format_status(data))
    return EXIT_OK


def models_switch(
    gateway: str,
    api_key: str | None,
    version: str | None,
    force: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Promote `version`, or roll back when it is None."""

    def call(stub: Any, metadata: list[tuple[str, str]]) -> Any:
        if version is None:
            return stub.RollbackModel(
                feedback_pb2.RollbackModelRequest(), metadata=metadata, timeout=TIMEOUT_S
            )
        request = feedback_pb2.PromoteModelRequest(version=version, force=force)
        return stub.PromoteModel(request, metadata=metadata, timeout=TIMEOUT_S)

    result = _call(gateway, api_key, stderr, call)
    if result is None:
        return EXIT_RPC_ERROR
    current = result.version.version
    stdout.write(f"current     {current} (the mastering service follows within a second)\n")
    return EXIT_OK


def retrain(
    gateway: str,
    api_key: str | None,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """One learner update now; exit 0 unless it failed (a rejected candidate is an outcome)."""
    result = _call(
        gateway,
        api_key,
        stderr,
        lambda stub, metadata: stub.Retrain(
            feedback_pb2.RetrainRequest(allow_partial_batch=True),
            metadata=metadata,
            timeout=RETRAIN_TIMEOUT_S,
        ),
    )
    if result is None:
        return EXIT_RPC_ERROR
    data = {
        "outcome": result.outcome,
        "candidate_version": result.candidate_version or None,
        "current_version": result.current_version,
        "items": result.items,
        "reason": result.reason or None,
        "validation": dict(result.validation),
    }
    if as_json:
        stdout.write(json.dumps(data) + "\n")
    else:
        stdout.write(
            f"{result.outcome}: {result.items} feedback items; current {result.current_version}"
            + (f"; candidate {result.candidate_version}" if result.candidate_version else "")
            + (f"\nreason      {result.reason}" if result.reason else "")
            + "\n"
        )
    return EXIT_RPC_ERROR if result.outcome == "failed" else EXIT_OK
