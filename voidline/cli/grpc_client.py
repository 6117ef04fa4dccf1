"""Client-side gRPC plumbing shared by the commands: channels, health checks, error text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The services cap messages at 65 MiB each way; match it so a large report or chunk is never
# refused by the client's default 4 MiB receive limit first.
MAX_MESSAGE_BYTES = 65 * 1024 * 1024
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Long analyses keep one stream open for minutes: keepalive notices a dead peer.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]

API_KEY_METADATA = "x-api-key"

# Health as `voidline status` reports it.
SERVING = "SERVING"
NOT_SERVING = "NOT_SERVING"
UNREACHABLE = "UNREACHABLE"
UNKNOWN = "UNKNOWN"


def open_channel(address: str) -> grpc.Channel:
    """An insecure channel: the gateway is reached over loopback or a private network."""
    return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)


def rpc_code(error: grpc.RpcError) -> grpc.StatusCode | None:
    """The status code of a failed call (the errors grpc raises are also grpc.Call objects)."""
    return error.code() if isinstance(error, grpc.Call) else None


def check_health(address: str, timeout_s: float = 1.0, service: str = "") -> str:
    """Ask grpc.health.v1 once; SERVING, NOT_SERVING, UNREACHABLE or UNKNOWN."""
    with open_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as e:
            if rpc_code(e) in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return UNREACHABLE
            return UNKNOWN
    if response.status == health_pb2.HealthCheckResponse.SERVING:
        return SERVING
    if response.status == health_pb2.HealthCheckResponse.NOT_SERVING:
        return NOT_SERVING
    return UNKNOWN


def describe_rpc_error(error: grpc.RpcError) -> str:
    """``CODE: message``, the way a failed call is shown to the user."""
    code = rpc_code(error)
    details = error.details() if isinstance(error, grpc.Call) else None
    name = code.name if code is not None else "UNKNOWN"
    return f"{name}: {details or 'no message from the server'}"


def report_failed_stream(
    error: grpc.RpcError, local_errors: Sequence[Exception], gateway: str, stderr: TextIO
) -> int:
    """Say why a streaming command's call failed; its exit code.

    A local read error that broke the request stream comes first (exit 2: the file is at
    fault); otherwise the server's status and message (exit 1), with a hint to start
    `voidline up` when nothing answered at the gateway address.
    """
    if local_errors:
        stderr.write(f"error: {local_errors[0]}\n")
        return 2
    stderr.write(f"error: {describe_rpc_error(error)}\n")
    if rpc_code(error) == grpc.StatusCode.UNAVAILABLE:
        stderr.write(f"hint: no gateway answered at {gateway}: run `voidline up`\n")
    return 1
