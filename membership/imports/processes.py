"""Booking the staged rows of an import in several processes, each its own members' rows in
booking order, in batches of one transaction each, on its own database connection."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import sys
import traceback
from collections.abc import Callable

from django.db import DatabaseError, connections, transaction

from ..services import Rejection
from .reading import ImportKind
from .staging import Staging, staged_batches


class ImportWorkerError(Exception):
    """A booking process of a parallel import failed; the batches it committed stay booked."""


RERUN = "the batches booked so far stay booked, and running the same file again books the rest"


def book_in_processes(kind: ImportKind, staging: Staging, shares: int, batch_size: int, take: Callable[[list], None]):
    """Book the staged rows in ``shares`` processes, each its own members' rows in booking order,
    and ``take`` every batch they book, as it comes (see the module docstring).

    Each process sends back, per batch, the rows it rejected with their outcome and, for the
    rest, their outcomes without the raw row. If one fails, the others are stopped (their open
    batch rolls back) and ``ImportWorkerError`` says what failed: the committed batches stay, and
    running the file again books the rest.
    """
    connections.close_all()  # a forked process must not share the parent's connection
    context = multiprocessing.get_context("fork")
    results = context.Queue(maxsize=64)
    processes = [
        context.Process(target=_book_share, args=(kind, staging.path, share, shares, batch_size, results), daemon=True)
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
                    raise ImportWorkerError(f"a booking process stopped (exit code {dead[0].exitcode}); {RERUN}") from None
                continue
            if message == "batch":
                take(body)
            elif message == "done":
                running.discard(share)
            else:
                raise ImportWorkerError(f"a booking process failed; {RERUN}:\n{body}")
    finally:
        for process in processes:
            if process.is_alive() and running:
                process.terminate()
            process.join()


def _book_share(kind: ImportKind, staging_path: str, share: int, shares: int, batch_size: int, results):
    """One booking process: its share of the staged rows, batch by batch, one transaction each;
    a deadlock with another process retries the batch (it rolled back whole)."""
    try:
        db = sqlite3.connect(staging_path)
        for staged in staged_batches(db, batch_size, share, shares):
            for attempt in range(3):
                try:
                    with transaction.atomic():
                        outcomes = kind.book([payload for _, _, payload in staged])
                    break
                except DatabaseError as exc:
                    if attempt == 2 or getattr(exc.__cause__, "sqlstate", "") not in ("40P01", "40001"):
                        raise
            booked = [
                (number, raw if isinstance(outcome, Rejection) else None, outcome) for (number, raw, _), outcome in zip(staged, outcomes)
            ]
            results.put((share, "batch", booked))
        db.close()
        results.put((share, "done", None))
    except BaseException:
        results.put((share, "error", traceback.format_exc()))
        connections.close_all()
        sys.exit(1)  # the parent reports it; no second traceback from this process
    connections.close_all()
