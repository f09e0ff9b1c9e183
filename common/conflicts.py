"""Transactions that another transaction can make fail through no fault of their own (a deadlock,
a serialization failure) are run again, a few times, after a short pause."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError

T = TypeVar("T")

CONFLICTS = {"40P01": "a deadlock", "40001": "a serialization failure"}
PAUSES = (0.05, 0.25, 1.0)  # seconds before the second, third and fourth attempt


def first_line(exc: BaseException) -> str:
    """The first line of a database error's message (the rest is context for developers)."""
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


class ConflictsExhausted(DatabaseError):
    """A transaction lost to other transactions on every attempt; ``str()`` is a sentence."""


def conflict_of(exc: BaseException) -> str | None:
    """What kind of conflict with another transaction ``exc`` is ("a deadlock", ...), or None."""
    for error in (exc, exc.__cause__):
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if code in CONFLICTS:
            return CONFLICTS[code]
    return None


def conflicts_retry(work: Callable[[], T], *, what: str, pauses: tuple[float, ...] | None = None) -> T:
    """Run ``work`` (which opens and commits its own transaction) and, while it fails on a
    conflict with another transaction, run it again after each of ``pauses``; then give up with
    ``ConflictsExhausted``, a sentence naming ``what`` and the conflict (``pauses``: ``PAUSES``)."""
    pauses = PAUSES if pauses is None else pauses
    times = "once" if not pauses else f"{len(pauses) + 1} times in a row"
    for pause in (*pauses, None):
        try:
            return work()
        except DatabaseError as exc:
            conflict = conflict_of(exc)
            if conflict is None:
                raise
            if pause is None:
                raise ConflictsExhausted(
                    f"{what} lost to other work on the database {times} ({conflict}) and was rolled back"
                ) from exc
        time.sleep(pause * random.uniform(0.5, 1.5))
