"""Domain exceptions. The services' error interceptor maps each to one gRPC status code."""

from __future__ import annotations


class VoidlineError(Exception):
    """Base class: the message is shown to the caller, so it must say what to fix."""


class InvalidInputError(VoidlineError):
    """Bad config, framing or samples (INVALID_ARGUMENT)."""


class NotFoundError(VoidlineError):
    """Unknown model, job or upload (NOT_FOUND)."""


class FailedPreconditionError(VoidlineError):
    """Not in a state to do this, e.g. a model is not installed (FAILED_PRECONDITION)."""


class LimitExceededError(VoidlineError):
    """Over a size or rate limit (RESOURCE_EXHAUSTED)."""


class UnavailableError(VoidlineError):
    """Starting, draining or a dependency is down (UNAVAILABLE)."""
