"""Importing orders from the contract's CSV files: streamed, staged, booked in batches.

1. The file is read row by row; each row is parsed and checked on its own, and the valid ones
   go to a staging table in a temporary SQLite file, so memory does not grow with the file.
2. The staging table finds orders that appear twice (the later rows are rejected, naming the
   first) and hands the orders back in booking order: ``paid_at``, then ``order_id``.
3. The orders are booked in batches by ``booking.orders_book_batch``; each batch is one
   transaction, so a crash leaves whole batches and running the same file again books the rest
   (what was booked comes back as unchanged).

Bookings of different members do not depend on each other (caps, lots, balances and cashback are
each a member's own), so with ``workers`` above 1 the staged rows are split by member into that
many shares, each booked in its own process and database connection, every member's orders still
in booking order within one process.

Rejected rows are kept in the staging file too and written, in row order, to ``PATH.rejected.csv``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import shutil
import sqlite3
import sys
import tempfile
import traceback
import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, connections, transaction

from common.csvio import FieldError, parse_amount, parse_day, parse_flag, parse_when, read_header, read_rows, write_rejected
from common.roles import permission_require
from common.timeutil import local_midnight

from .booking import OpeningBalance, Rejection, members_upsert_batch, opening_balances_book_batch, orders_book_batch
from .models import Order, Program
from .rules import OrderFacts
from .services import ORDER_FIELDS, ORDER_STATUSES, order_validate

ORDER_COLUMNS = ("order_id", "member_id", *ORDER_FIELDS)
ORDER_REQUIRED = ("order_id", "member_id", "paid_at", "status", "goods_amount")
AMOUNTS = ("goods_amount", "discount_amount", "shipping_amount", "refunded_amount")


def order_parse(values: dict) -> OrderFacts:
    """An order's facts from a row of text, or ``FieldError``/``ValidationError`` naming the field."""
    for name in ("order_id", "member_id", "status"):
        if not values.get(name):
            raise FieldError(name, f"{name} is required")
    status = values["status"].lower()
    if status not in ORDER_STATUSES:
        raise FieldError("status", f"unknown status {values['status']!r} (expected one of {', '.join(Order.Status.values)})")
    facts = OrderFacts(
        order_id=values["order_id"],
        member_id=values["member_id"],
        paid_at=parse_when(values.get("paid_at", ""), "paid_at", required=True),
        status=status,
        goods_amount=parse_amount(values.get("goods_amount", ""), "goods_amount", required=True),
        discount_amount=parse_amount(values.get("discount_amount", ""), "discount_amount"),
        shipping_amount=parse_amount(values.get("shipping_amount", ""), "shipping_amount"),
        refunded_amount=parse_amount(values.get("refunded_amount", ""), "refunded_amount"),
        category=values.get("category", ""),
        shop_id=values.get("shop_id", ""),
        special_invoice=parse_flag(values.get("special_invoice", ""), "special_invoice"),
    )
    order_validate(facts)
    return facts


@dataclass
class ImportReport:
    path: str
    dry_run: bool = False
    counts: dict = field(
        default_factory=lambda: dict.fromkeys(("read", "created", "changed", "unchanged", "rejected", "capped"), 0)
    )
    rejected_path: Path | None = None

    def summary(self) -> str:
        text = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return f"dry run, nothing written: {text}" if self.dry_run else text


class Staging:
    """The rows of one import in temporary SQLite files: the valid ones, each with a key that
    must be unique in the file and a sort key that orders the booking; and, in a file of their
    own, the rejected ones, which are written while booking processes read the first file."""

    FLUSH = 10000  # rows held in memory before they are written to the file

    def __init__(self):
        self.path, self.db = self._file("import-")
        self.db.execute("CREATE TABLE staged (row INTEGER PRIMARY KEY, sort_key TEXT, key TEXT, payload TEXT, raw TEXT, shard INTEGER)")
        self.rejected_path, self.rejects = self._file("import-rejected-")
        self.rejects.execute("CREATE TABLE rejected (row INTEGER PRIMARY KEY, raw TEXT, error TEXT)")
        self.pending, self.pending_rejected = [], []

    @staticmethod
    def _file(prefix: str) -> tuple[str, sqlite3.Connection]:
        handle, path = tempfile.mkstemp(prefix=prefix, suffix=".sqlite3")
        os.close(handle)
        db = sqlite3.connect(path)
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        return path, db

    def stage(self, number: int, sort_key: str, key: str, payload: list, raw: list[str], shard: int = 0):
        self.pending.append((number, sort_key, key, json.dumps(payload, ensure_ascii=False), json.dumps(raw, ensure_ascii=False), shard))
        if len(self.pending) >= self.FLUSH:
            self.flush()

    def reject(self, number: int, raw: list[str], error: str):
        self.pending_rejected.append((number, json.dumps(raw, ensure_ascii=False), error))
        if len(self.pending_rejected) >= self.FLUSH:
            self.flush()

    def flush(self):
        if self.pending:
            self.db.executemany("INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?)", self.pending)
            self.db.commit()
        if self.pending_rejected:
            self.rejects.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?)", self.pending_rejected)
            self.rejects.commit()
        self.pending, self.pending_rejected = [], []

    def duplicates(self) -> list[tuple[int, list[str], str, int]]:
        """Unstage the rows whose key appeared in an earlier row and return them: (row, raw, key, first row)."""
        self.flush()
        self.db.execute("CREATE INDEX staged_key ON staged (key, row)")
        found = self.db.execute(
            """SELECT s.row, s.raw, s.key, f.first FROM staged s
               JOIN (SELECT key, MIN(row) AS first FROM staged GROUP BY key HAVING COUNT(*) > 1) f
               ON s.key = f.key WHERE s.row > f.first ORDER BY s.row"""
        ).fetchall()
        self.db.executemany("DELETE FROM staged WHERE row = ?", [(number,) for number, *_ in found])
        self.db.commit()
        return [(number, json.loads(raw), key, first) for number, raw, key, first in found]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM staged").fetchone()[0]

    def order(self):
        """Index the staged rows in booking order (before ``in_order``)."""
        self.db.execute("CREATE INDEX staged_order ON staged (sort_key, key)")
        self.db.commit()

    def in_order(self, size: int, share: int = 0, shares: int = 1):
        """Batches of (row, raw, payload), by sort key, then key; of one share of ``shares`` only."""
        return staged_batches(self.db, size, share, shares)

    def rejected(self):
        self.flush()
        for raw, error in self.rejects.execute("SELECT raw, error FROM rejected ORDER BY row"):
            yield json.loads(raw), error

    def close(self):
        for db, path in ((self.db, self.path), (self.rejects, self.rejected_path)):
            db.close()
            os.unlink(path)


def staged_batches(db: sqlite3.Connection, size: int, share: int = 0, shares: int = 1):
    where = "WHERE shard % ? = ?" if shares > 1 else ""
    cursor = db.execute(f"SELECT row, raw, payload FROM staged {where} ORDER BY sort_key, key", (shares, share) if shares > 1 else ())
    while rows := cursor.fetchmany(size):
        yield [(number, json.loads(raw), json.loads(payload)) for number, raw, payload in rows]


def shard_of(member_id: str) -> int:
    """A stable number for a member id: rows with the same number are booked by the same process."""
    return zlib.crc32(member_id.encode())


def _order_payload(facts: OrderFacts) -> list:
    return [facts.order_id, facts.member_id, facts.paid_at.isoformat(), facts.status, *(str(getattr(facts, a)) for a in AMOUNTS), facts.category, facts.shop_id, facts.special_invoice]


def _order_from(payload: list) -> OrderFacts:
    order_id, member_id, paid_at, status, goods, discount, shipping, refunded, category, shop_id, special_invoice = payload
    return OrderFacts(
        order_id=order_id,
        member_id=member_id,
        paid_at=datetime.fromisoformat(paid_at),
        status=status,
        goods_amount=Decimal(goods),
        discount_amount=Decimal(discount),
        shipping_amount=Decimal(shipping),
        refunded_amount=Decimal(refunded),
        category=category,
        shop_id=shop_id,
        special_invoice=special_invoice,
    )


@dataclass
class ImportKind:
    """What differs between the imports: the columns, how a row is read, how a batch is booked.

    ``parse`` turns a row's values into (sort key, key unique in the file, what to stage);
    ``book`` books a batch of staged payloads and returns an outcome per payload. With
    ``dependent_batches``, later batches depend on earlier ones (caps, lots), so a dry run books
    the whole file in one transaction before rolling back; otherwise each batch is rolled back.
    ``member_of`` names the member a staged payload books for: the kinds that have it can be
    booked by several processes, each taking the rows of its own members.
    """

    noun: str
    permission: str
    columns: tuple
    required: tuple
    counts: tuple
    parse: Callable[[dict], tuple[str, str, list | dict]]
    book: Callable[[list], list]
    dependent_batches: bool = False
    member_of: Callable[[list | dict], str] | None = None


class ImportWorkerError(Exception):
    """A booking process of a parallel import failed; the batches it committed stay booked."""


RERUN = "the batches booked so far stay booked, and running the same file again books the rest"


def _import(
    kind: ImportKind,
    *,
    path: str,
    encoding: str = "utf-8",
    dry_run: bool = False,
    batch_size: int = 5000,
    workers: int = 1,
    on_error: Callable[[str], None] = lambda error: None,
    on_progress: Callable[[str, int, int], None] = lambda phase, done, total: None,
    on_row: Callable[[int, object], None] = lambda number, outcome: None,
    name: str = "",
    actor=None,
) -> ImportReport:
    """Read and check every row, stage the valid ones, then book them in batches (see the module docstring).

    Raises ``FileError`` if the file as a whole is unusable; each rejected row is reported through
    ``on_error`` as a sentence naming the file (``name``, else ``path``), row and column.
    ``workers`` above 1 books in that many processes (PostgreSQL only; not in a dry run, nor
    inside a transaction, which other connections could not see; and no more processes than
    there are batches).
    """
    permission_require(actor, kind.permission, f"import {kind.noun}s")
    report = ImportReport(path=str(path), dry_run=dry_run)
    report.counts = counts = dict.fromkeys(kind.counts, 0)
    label = name or path
    staging = Staging()
    try:

        def reject(number, raw, column, message):
            error = f"{label}: row {number}, column {column}: {message}"
            on_error(error)
            staging.reject(number, raw, error)
            counts["rejected"] += 1
            on_row(number, Rejection(column, message))

        for row in read_rows(path, required=kind.required, known=kind.columns, encoding=encoding):
            counts["read"] += 1
            try:
                sort_key, key, payload = kind.parse(row.values)
            except FieldError as exc:
                reject(row.number, row.raw, exc.field, exc.message)
                continue
            except ValidationError as exc:
                column, messages = next(iter(exc.message_dict.items()))
                reject(row.number, row.raw, column, messages[0])
                continue
            staging.stage(row.number, sort_key, key, payload, row.raw, shard_of(kind.member_of(payload)) if kind.member_of else 0)
            if counts["read"] % 10000 == 0:
                on_progress("read", counts["read"], 0)

        for number, raw, key, first in staging.duplicates():
            reject(number, raw, kind.columns[0], f"{kind.columns[0].removesuffix('_id')} {key} already appears in row {first}")

        total, done = staging.count(), 0
        staging.order()

        def take(booked):
            """Count a booked batch: (row, raw, outcome) for each of its rows."""
            nonlocal done
            for number, raw, outcome in booked:
                if isinstance(outcome, Rejection):
                    reject(number, raw, outcome.field, outcome.message)
                    continue
                counts[outcome.outcome] += 1
                if "capped" in counts:
                    counts["capped"] += bool(outcome.capped)
                on_row(number, outcome)
            done += len(booked)
            on_progress("book", done, total)

        shares = min(workers, max(1, total // batch_size))
        if shares > 1 and kind.member_of and not dry_run and connection.vendor == "postgresql" and not connection.in_atomic_block:
            _book_in_processes(kind, staging, shares, batch_size, take)
        else:
            with transaction.atomic() if dry_run and kind.dependent_batches else nullcontext():
                for staged in staging.in_order(batch_size):
                    with transaction.atomic():
                        outcomes = kind.book([payload for _, _, payload in staged])
                        if dry_run and not kind.dependent_batches:
                            transaction.set_rollback(True)
                    take([(number, raw, outcome) for (number, raw, _), outcome in zip(staged, outcomes)])
                if dry_run and kind.dependent_batches:
                    transaction.set_rollback(True)

        if counts["rejected"] and not dry_run:
            report.rejected_path = write_rejected(path, read_header(path, encoding), staging.rejected(), encoding)
    finally:
        staging.close()
    return report


def _book_in_processes(kind: ImportKind, staging: Staging, shares: int, batch_size: int, take: Callable[[list], None]):
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


def orders_import(*, path: str, program: Program, book_points: bool = True, **options) -> ImportReport:
    """Import an orders file as CONTRACT.md says: each order booked by the program's rules, in
    order of ``paid_at``, then ``order_id``; a dry run books the file and rolls it all back."""

    def parse(values):
        facts = order_parse(values)
        return facts.paid_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"), facts.order_id, _order_payload(facts)

    def book(payloads):
        return orders_book_batch(facts=[_order_from(p) for p in payloads], program=program, book_points=book_points).outcomes

    kind = ImportKind(
        noun="order",
        permission="membership.add_order",
        columns=ORDER_COLUMNS,
        required=ORDER_REQUIRED,
        counts=("read", "created", "changed", "unchanged", "rejected", "capped"),
        parse=parse,
        book=book,
        dependent_batches=True,
        member_of=lambda payload: payload[1],
    )
    return _import(kind, path=path, **options)


# ---------------------------------------------------------------- opening balances

BALANCE_COLUMNS = ("member_id", "points", "earned_on", "growth", "growth_on")
BALANCE_REQUIRED = ("member_id",)


def _whole(values: dict, name: str) -> int:
    text = (values.get(name) or "").replace(",", "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise FieldError(name, f"{name} {text!r} is not a whole number of 0 or more")
    return int(text)


def balance_parse(values: dict, tz) -> OpeningBalance:
    member_id = values.get("member_id", "")
    if not member_id:
        raise FieldError("member_id", "member_id is required")
    points, growth = _whole(values, "points"), _whole(values, "growth")
    earned_on, growth_on = parse_day(values.get("earned_on", ""), "earned_on"), parse_day(values.get("growth_on", ""), "growth_on")
    if points and earned_on is None:
        raise FieldError("earned_on", "earned_on is required when points are given (the points expire by it)")
    if growth and growth_on is None:
        raise FieldError("growth_on", "growth_on is required when growth is given (the growth window counts it on that day)")
    return OpeningBalance(
        member_id=member_id,
        points=points,
        earned_at=local_midnight(earned_on, tz) if earned_on else None,
        growth=growth,
        growth_at=local_midnight(growth_on, tz) if growth_on else None,
    )


def balances_import(*, path: str, program: Program, actor=None, **options) -> ImportReport:
    """Import opening balances (``member_id,points,earned_on,growth,growth_on``), once per member."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(program.time_zone)

    def parse(values):
        b = balance_parse(values, tz)
        payload = [b.member_id, b.points, b.earned_at and b.earned_at.isoformat(), b.growth, b.growth_at and b.growth_at.isoformat()]
        return b.member_id, b.member_id, payload

    def book(payloads):
        balances = [
            OpeningBalance(
                member_id=member_id,
                points=points,
                earned_at=earned_at and datetime.fromisoformat(earned_at),
                growth=growth,
                growth_at=growth_at and datetime.fromisoformat(growth_at),
            )
            for member_id, points, earned_at, growth, growth_at in payloads
        ]
        return opening_balances_book_batch(balances=balances, program=program, actor=actor).outcomes

    kind = ImportKind(
        noun="opening balance",
        permission="membership.import_opening_balances",
        columns=BALANCE_COLUMNS,
        required=BALANCE_REQUIRED,
        counts=("read", "created", "unchanged", "rejected"),
        parse=parse,
        book=book,
        member_of=lambda payload: payload[0],
    )
    return _import(kind, path=path, actor=actor, **options)


# ---------------------------------------------------------------- members

MEMBER_COLUMNS = ("member_id", "name", "phone", "birthday", "joined_at", "base_score")
MEMBER_REQUIRED = ("member_id",)


def member_parse(values: dict) -> dict:
    member_id = values.get("member_id", "")
    if not member_id:
        raise FieldError("member_id", "member_id is required")
    if len(member_id) > 64:
        raise FieldError("member_id", f"member_id {member_id[:20]!r}… is longer than 64 characters")
    joined_at = parse_when(values.get("joined_at", ""), "joined_at")
    return dict(
        member_id=member_id,
        name=values.get("name") or None,
        phone=values.get("phone") or None,
        birthday=parse_day(values.get("birthday", ""), "birthday"),
        joined_at=joined_at,
        base_score=parse_base_score(values.get("base_score", "")),
    )


def parse_base_score(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise FieldError("base_score", f"base_score must be a whole number of 0 or more, not {text!r}")
    return int(text)


def members_import(*, path: str, **options) -> ImportReport:
    """Import members (``member_id,name,phone,birthday,joined_at``, optionally ``base_score``): new ones are created, known
    ones get the fields given (an empty cell leaves a field as it is), never a duplicate."""

    def parse(values):
        fields = member_parse(values)
        payload = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
        return "", fields["member_id"], payload

    def book(payloads):
        for payload in payloads:
            payload["birthday"] = payload["birthday"] and date.fromisoformat(payload["birthday"])
            payload["joined_at"] = payload["joined_at"] and datetime.fromisoformat(payload["joined_at"])
        return members_upsert_batch(rows=payloads).outcomes

    kind = ImportKind(
        noun="member",
        permission="membership.add_member",
        columns=MEMBER_COLUMNS,
        required=MEMBER_REQUIRED,
        counts=("read", "created", "changed", "unchanged", "rejected"),
        parse=parse,
        book=book,
        member_of=lambda payload: payload["member_id"],
    )
    return _import(kind, path=path, **options)


# ---------------------------------------------------------------- import jobs

IMPORTS = {"orders": orders_import, "members": members_import, "balances": balances_import}
IMPORT_PERMISSIONS = {"orders": "membership.add_order", "members": "membership.add_member", "balances": "membership.import_opening_balances"}


def import_job_create(*, kind: str, upload, actor, book_points: bool = True):
    """Keep an uploaded file as an ``ImportJob`` and queue it for a worker (after the commit)."""
    from .models import ImportJob
    from .tasks import import_job_run_task

    if kind not in IMPORTS:
        raise ValidationError({"kind": f"unknown import kind {kind!r}"})
    permission_require(actor, "membership.add_importjob", "start import jobs")
    permission_require(actor, IMPORT_PERMISSIONS[kind], f"import {kind}")
    with transaction.atomic():
        job = ImportJob(kind=kind, original_name=Path(upload.name).name[:255], book_points=book_points, created_by=actor)
        job.file.save(Path(upload.name).name, upload, save=False)
        job.save()
        transaction.on_commit(lambda: import_job_run_task.delay(job.pk))
    return job


def import_job_run(*, job_id: int):
    """Run a queued import job; a job a crashed worker left running is run again (imports are idempotent)."""
    from django.core.files import File
    from django.utils import timezone

    from common.csvio import FileError, detect_encoding, xlsx_to_csv

    from .models import ImportJob
    from .selectors import NoActiveProgram, program_active_get

    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status == ImportJob.Status.DONE:
            return job
        job.status, job.started_at, job.error = ImportJob.Status.RUNNING, timezone.now(), ""
        job.save(update_fields=["status", "started_at", "error"])
    work = Path(tempfile.mkdtemp(prefix="import-job-"))
    try:
        path = work / Path(job.original_name).with_suffix(".csv").name
        with job.file.open("rb") as source, open(work / "upload", "wb") as copy:
            for chunk in source.chunks():
                copy.write(chunk)
        if job.original_name.lower().endswith((".xlsx", ".xlsm")):
            xlsx_to_csv(work / "upload", path)
        else:
            (work / "upload").rename(path)

        def progress(phase, done, total):
            if phase == "book":
                ImportJob.objects.filter(pk=job.pk).update(rows_done=done, rows_total=total)

        arguments = dict(path=str(path), name=job.original_name, encoding=detect_encoding(path), on_progress=progress)
        if job.kind != "members":
            arguments["program"] = program_active_get()
        if job.kind == "orders":
            arguments["book_points"] = job.book_points
        arguments["actor"] = job.created_by
        report = IMPORTS[job.kind](**arguments)
        job.refresh_from_db(fields=["rows_done", "rows_total"])
        job.counts = report.counts
        if report.rejected_path:
            with open(report.rejected_path, "rb") as rejected:
                job.rejected_file.save(f"{Path(job.original_name).stem}.rejected.csv", File(rejected), save=False)
        job.status = ImportJob.Status.DONE
    except (FileError, ValidationError, NoActiveProgram) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        job.status, job.error = ImportJob.Status.FAILED, text.replace(str(work / "upload"), job.original_name).replace(str(path), job.original_name)
    except Exception as exc:
        job.status, job.error = ImportJob.Status.FAILED, f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        job.finished_at = timezone.now()
        job.save(update_fields=["counts", "rejected_file", "status", "error", "finished_at"])
        shutil.rmtree(work, ignore_errors=True)
    return job
