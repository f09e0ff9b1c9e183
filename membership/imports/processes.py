"""Booking the staged rows of an import in several processes, each its own members' rows in
booking order, in batches of one transaction each, on its own database connection."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import queue
import signal
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.utils.translation import gettext as _

from common.conflicts import ConflictsExhausted, conflicts_retry, first_line

from .reading import ImportKind
from .staging import Staging, staged_batches


class ImportWorkerError(Exception):
    """A booking process of a parallel import failed; the batches it committed stay booked."""


PR_SET_PDEATHSIG = 1


def book_in_processes(kind: ImportKind, staging: Staging, shares: int, batch_size: int, take: Callable[[list], None]):
    """Book the staged rows in ``shares`` processes, each its own members' rows in booking order,
    and ``take`` every batch they book, as it comes (see the module docstring).

    Each process sends back, per batch, each row's number and outcome (the raw cells of a
    rejected row are in the staging file). If one fails, the others are stopped (their open
    batch rolls back) and ``ImportWorkerError`` says what failed: the committed batches stay, and
    running the file again books the rest.
    """
    connections.close_all()  # a forked process must not share the parent's connection
    context = multiprocessing.get_context("fork")
    results = context.Queue(maxsize=64)
    processes = [
        context.Process(target=_book_share, args=(kind, staging.path, staging.by_member, share, shares, batch_size, results, os.getpid()), daemon=True)
        for share in range(shares)
    ]
    for process in processes:
        process.start()
    running = set(range(shares))
    try:
        while running:
            try:
                share, message, body = results.get(timeout=1)
            except queue.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise ImportWorkerError(
                        _("a booking process stopped (exit code %(code)s); the batches booked so far stay booked, and running the same file again books the rest")
                        % {"code": dead[0].exitcode}
                    ) from None
                continue
            if message == "batch":
                take(body)
            elif message == "done":
                running.discard(share)
            elif message == "failure":
                raise ImportWorkerError(
                    _("%(failure)s; the batches booked so far stay booked, and running the same file again books the rest") % {"failure": body}
                )
            else:
                raise ImportWorkerError(
                    _("a booking process failed; the batches booked so far stay booked, and running the same file again books the rest:")
                    + f"\n{body}"
                )
    finally:
        for process in processes:
            if process.is_alive() and running:
                process.terminate()
            process.join()


def _book_share(kind: ImportKind, staging_path: str, by_member: bool, share: int, shares: int, batch_size: int, results, parent: int):
    """One booking process: its share of the staged rows, batch by batch, one transaction each;
    a batch that loses to another transaction is booked again (``batch_book``)."""
    try:
        _end_with(parent)
        db = sqlite3.connect(staging_path)
        for staged in staged_batches(db, batch_size, share, shares, by_member):
            outcomes = batch_book(kind, staged)
            results.put((share, "batch", [(number, outcome) for (number, _), outcome in zip(staged, outcomes)]))
        db.close()
        results.put((share, "done", None))
    except (ConflictsExhausted, OperationalError, InterfaceError) as exc:
        results.put((share, "failure", database_failure(exc)))
        connections.close_all()
        sys.exit(1)
    except BaseException:
        results.put((share, "error", traceback.format_exc()))
        connections.close_all()
        sys.exit(1)  # the parent reports it; no second traceback from this process
    connections.close_all()


def _end_with(parent: int) -> None:
    """Make this booking process end as soon as its parent does, however the parent ended (even
    by SIGKILL): its open batch rolls back, and nothing books behind a re-run's back. Linux
    signals it at once (``PR_SET_PDEATHSIG``); elsewhere a thread looks every half second."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's own handler is for the parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops its processes
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def batch_book(kind: ImportKind, staged: list, *, rollback: bool = False) -> list:
    """Book one batch of staged rows (row, payload) in one transaction (rolled back if
    ``rollback``); a batch that loses to another transaction (a deadlock, a serialization
    failure) rolled back whole and is booked again, unless it runs inside a larger transaction."""

    def work():
        with transaction.atomic():
            outcomes = kind.book([payload for _, payload in staged])
            if rollback:
                transaction.set_rollback(True)
        return outcomes

    if connection.in_atomic_block:
        return work()
    return conflicts_retry(work, what=_("the batch of rows %(first)s to %(last)s") % {"first": staged[0][0], "last": staged[-1][0]})


def database_failure(exc: BaseException) -> str:
    """A sentence for a database failure that is nobody's input: what failed, and what to do."""
    if isinstance(exc, ConflictsExhausted):
        return str(exc)
    return _("the database stopped answering (%(error)s)") % {"error": first_line(exc)}
