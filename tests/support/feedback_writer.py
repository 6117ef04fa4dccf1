"""A child process for the feedback store's durability tests.

    python -m tests.support.feedback_writer DB FIRST COUNT

Submits items FIRST, FIRST + 1, ... FIRST + COUNT - 1 one at a time and, right after each
`submit` returns, prints ``<key> <feedback_id> <duplicate 0|1>`` and flushes, so the parent only
ever sees acknowledged items. An item's content is a pure function of its index, so a restarted
writer resubmits identical feedback under the same keys.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from voidline.feedback.store import FeedbackStore, NewFeedback
from voidline.mastering.parameters import PARAMETER_NAMES


def key(index: int) -> str:
    return f"writer-{index:06d}"


def item(index: int) -> NewFeedback:
    """The index-th item the writer submits (always the same)."""
    preference = index % 3 == 0
    return NewFeedback(
        job_id=f"job-{index % 11:02d}",
        rating=index % 5 + 1,
        idempotency_key=key(index),
        preferred_job_id=f"job-{index % 11:02d}" if preference else None,
        other_job_id=f"job-{(index + 1) % 11:02d}" if preference else None,
        corrected={PARAMETER_NAMES[index % len(PARAMETER_NAMES)]: index / 7.0},
        comment=f"comment {index}",
        model_version="pm-writer",
    )


def main(argv: Sequence[str] | None = None) -> int:
    path, first, count = (argv if argv is not None else sys.argv[1:])[:3]
    with FeedbackStore(path) as store:
        for index in range(int(first), int(first) + int(count)):
            result = store.submit(item(index))
            print(f"{key(index)} {result.feedback_id} {int(result.duplicate)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
