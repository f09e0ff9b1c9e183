"""Transactions that another transaction can make fail through no fault of their own (a deadlock,
a serialization failure) are run again, a few times, after a short pause."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

T = TypeVar("T")

CONFLICTS = {"40P01": gettext_noop("a deadlock"), "40001": gettext_noop("a serialization failure")}  # translated where said
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
    for pause in (*pauses, None):
        try:
            return work()
        except DatabaseError as exc:
            conflict = conflict_of(exc)
            if conflict is None:
                raise
            if pause is None:
                sentence = (
                    _("%(what)s lost to other work on the database %(n)s times in a row (%(conflict)s) and was rolled back")
                    if pauses
                    else _("%(what)s lost to other work on the database once (%(conflict)s) and was rolled back")
                )
                raise ConflictsExhausted(sentence % {"what": what, "n": len(pauses) + 1, "conflict": _(conflict)}) from exc
        time.sleep(pause * random.uniform(0.5, 1.5))
