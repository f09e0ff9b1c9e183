"""Importing orders from the contract's CSV files: streamed, staged, booked in batches.

1. The file is read row by row; each row is parsed and checked on its own, and the valid ones
   go to a staging table in a temporary SQLite file, so memory does not grow with the file.
2. The staging table finds orders that appear twice (the later rows are rejected, naming the
   first) and hands the orders back in booking order: ``paid_at``, then ``order_id``.
3. The orders are booked in batches by ``booking.orders_book_batch``; each batch is one
   transaction, so a crash leaves whole batches and running the same file again books the rest
   (what was booked comes back as unchanged).

Rejected rows are kept in the staging file too and written, in row order, to ``PATH.rejected.csv``.
"""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable

from django.core.exceptions import ValidationError
from django.db import transaction

from common.csvio import FieldError, parse_amount, parse_day, parse_when, read_header, read_rows, write_rejected
from common.timeutil import local_midnight

from .booking import OpeningBalance, Rejection, members_upsert_batch, opening_balances_book_batch, orders_book_batch
from .models import Member, Order, Program
from .rules import OrderFacts
from .services import order_validate

ORDER_COLUMNS = (
    "order_id",
    "member_id",
    "paid_at",
    "status",
    "goods_amount",
    "discount_amount",
    "shipping_amount",
    "refunded_amount",
    "category",
    "shop_id",
)
ORDER_REQUIRED = ("order_id", "member_id", "paid_at", "status", "goods_amount")
AMOUNTS = ("goods_amount", "discount_amount", "shipping_amount", "refunded_amount")


def order_parse(values: dict) -> OrderFacts:
    """An order's facts from a row of text, or ``FieldError``/``ValidationError`` naming the field."""
    for name in ("order_id", "member_id", "status"):
        if not values.get(name):
            raise FieldError(name, f"{name} is required")
    status = values["status"].lower()
    if status not in Order.Status.values:
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
    """The rows of one import in a temporary SQLite file: the valid ones, each with a key that
    must be unique in the file and a sort key that orders the booking, and the rejected ones."""

    def __init__(self):
        handle, self.path = tempfile.mkstemp(prefix="import-", suffix=".sqlite3")
        os.close(handle)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE staged (row INTEGER PRIMARY KEY, sort_key TEXT, key TEXT, payload TEXT, raw TEXT);
            CREATE TABLE rejected (row INTEGER PRIMARY KEY, raw TEXT, error TEXT);
            """
        )
        self.pending, self.pending_rejected = [], []

    def stage(self, number: int, sort_key: str, key: str, payload: list, raw: list[str]):
        self.pending.append((number, sort_key, key, json.dumps(payload, ensure_ascii=False), json.dumps(raw, ensure_ascii=False)))
        if len(self.pending) >= 10000:
            self.flush()

    def reject(self, number: int, raw: list[str], error: str):
        self.pending_rejected.append((number, json.dumps(raw, ensure_ascii=False), error))
        if len(self.pending_rejected) >= 10000:
            self.flush()

    def flush(self):
        self.db.executemany("INSERT INTO staged VALUES (?, ?, ?, ?, ?)", self.pending)
        self.db.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?)", self.pending_rejected)
        self.db.commit()
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

    def in_order(self, size: int):
        """Batches of (row, raw, payload), by sort key, then key."""
        self.db.execute("CREATE INDEX staged_order ON staged (sort_key, key)")
        cursor = self.db.execute("SELECT row, raw, payload FROM staged ORDER BY sort_key, key")
        while rows := cursor.fetchmany(size):
            yield [(number, json.loads(raw), json.loads(payload)) for number, raw, payload in rows]

    def rejected(self):
        self.flush()
        for raw, error in self.db.execute("SELECT raw, error FROM rejected ORDER BY row"):
            yield json.loads(raw), error

    def close(self):
        self.db.close()
        os.unlink(self.path)


def _order_payload(facts: OrderFacts) -> list:
    return [facts.order_id, facts.member_id, facts.paid_at.isoformat(), facts.status, *(str(getattr(facts, a)) for a in AMOUNTS), facts.category, facts.shop_id]


def _order_from(payload: list) -> OrderFacts:
    order_id, member_id, paid_at, status, goods, discount, shipping, refunded, category, shop_id = payload
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
    )


def orders_import(
    *,
    path: str,
    program: Program,
    encoding: str = "utf-8",
    dry_run: bool = False,
    book_points: bool = True,
    batch_size: int = 5000,
    on_error: Callable[[str], None] = lambda error: None,
    on_progress: Callable[[str, int, int], None] = lambda phase, done, total: None,
    on_row: Callable[[int, object], None] = lambda number, outcome: None,
    name: str = "",
) -> ImportReport:
    """Import an orders file as CONTRACT.md says. Raises ``FileError`` if the file as a whole is unusable."""
    report = ImportReport(path=str(path), dry_run=dry_run)
    counts = report.counts
    staging = Staging()
    try:

        def reject(number, raw, column, message):
            error = f"{name or path}: row {number}, column {column}: {message}"
            on_error(error)
            staging.reject(number, raw, error)
            counts["rejected"] += 1
            on_row(number, Rejection(column, message))

        for row in read_rows(path, required=ORDER_REQUIRED, known=ORDER_COLUMNS, encoding=encoding):
            counts["read"] += 1
            try:
                facts = order_parse(row.values)
            except FieldError as exc:
                reject(row.number, row.raw, exc.field, exc.message)
                continue
            except ValidationError as exc:
                name, messages = next(iter(exc.message_dict.items()))
                reject(row.number, row.raw, name, messages[0])
                continue
            sort_key = facts.paid_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
            staging.stage(row.number, sort_key, facts.order_id, _order_payload(facts), row.raw)
            if counts["read"] % 10000 == 0:
                on_progress("read", counts["read"], 0)

        for number, raw, order_id, first in staging.duplicates():
            reject(number, raw, "order_id", f"order {order_id} already appears in row {first}")

        # A dry run books everything in one transaction and rolls it back, so its counts are exact.
        with transaction.atomic() if dry_run else nullcontext():
            total, done = staging.count(), 0
            for staged in staging.in_order(batch_size):
                batch = [(number, raw, _order_from(payload)) for number, raw, payload in staged]
                outcomes = orders_book_batch(facts=[f for _, _, f in batch], program=program, book_points=book_points).outcomes
                for (number, raw, _), outcome in zip(batch, outcomes):
                    if isinstance(outcome, Rejection):
                        reject(number, raw, outcome.field, outcome.message)
                    else:
                        counts[outcome.outcome] += 1
                        counts["capped"] += bool(outcome.capped)
                        on_row(number, outcome)
                done += len(batch)
                on_progress("book", done, total)
            if dry_run:
                transaction.set_rollback(True)

        if counts["rejected"] and not dry_run:
            report.rejected_path = write_rejected(path, read_header(path, encoding), staging.rejected(), encoding)
    finally:
        staging.close()
    return report


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


def balances_import(
    *,
    path: str,
    program: Program,
    encoding: str = "utf-8",
    dry_run: bool = False,
    actor=None,
    batch_size: int = 5000,
    on_error: Callable[[str], None] = lambda error: None,
    on_progress: Callable[[str, int, int], None] = lambda phase, done, total: None,
    on_row: Callable[[int, object], None] = lambda number, outcome: None,
    name: str = "",
) -> ImportReport:
    """Import opening balances (``member_id,points,earned_on,growth,growth_on``), once per member."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(program.time_zone)
    report = ImportReport(path=str(path), dry_run=dry_run)
    report.counts = dict.fromkeys(("read", "created", "unchanged", "rejected"), 0)
    counts = report.counts
    staging = Staging()
    try:

        def reject(number, raw, column, message):
            error = f"{name or path}: row {number}, column {column}: {message}"
            on_error(error)
            staging.reject(number, raw, error)
            counts["rejected"] += 1
            on_row(number, Rejection(column, message))

        for row in read_rows(path, required=BALANCE_REQUIRED, known=BALANCE_COLUMNS, encoding=encoding):
            counts["read"] += 1
            try:
                balance = balance_parse(row.values, tz)
            except FieldError as exc:
                reject(row.number, row.raw, exc.field, exc.message)
                continue
            payload = [balance.member_id, balance.points, balance.earned_at and balance.earned_at.isoformat(), balance.growth, balance.growth_at and balance.growth_at.isoformat()]
            staging.stage(row.number, balance.member_id, balance.member_id, payload, row.raw)
        for number, raw, member_id, first in staging.duplicates():
            reject(number, raw, "member_id", f"member {member_id} already appears in row {first}")

        total, done = staging.count(), 0
        for staged in staging.in_order(batch_size):
            batch = []
            for number, raw, (member_id, points, earned_at, growth, growth_at) in staged:
                balance = OpeningBalance(
                    member_id=member_id,
                    points=points,
                    earned_at=earned_at and datetime.fromisoformat(earned_at),
                    growth=growth,
                    growth_at=growth_at and datetime.fromisoformat(growth_at),
                )
                batch.append((number, raw, balance))
            with transaction.atomic():  # each member once per file: batches are independent
                outcomes = opening_balances_book_batch(balances=[b for _, _, b in batch], program=program, actor=actor).outcomes
                transaction.set_rollback(dry_run)
            for (number, raw, _), outcome in zip(batch, outcomes):
                if isinstance(outcome, Rejection):
                    reject(number, raw, outcome.field, outcome.message)
                else:
                    counts[outcome.outcome] += 1
                    on_row(number, outcome)
            done += len(batch)
            on_progress("book", done, total)
        if counts["rejected"] and not dry_run:
            report.rejected_path = write_rejected(path, read_header(path, encoding), staging.rejected(), encoding)
    finally:
        staging.close()
    return report


# ---------------------------------------------------------------- members

MEMBER_COLUMNS = ("member_id", "name", "phone", "birthday", "joined_at")
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
    )


def members_import(
    *,
    path: str,
    encoding: str = "utf-8",
    dry_run: bool = False,
    batch_size: int = 5000,
    on_error: Callable[[str], None] = lambda error: None,
    on_progress: Callable[[str, int, int], None] = lambda phase, done, total: None,
    on_row: Callable[[int, object], None] = lambda number, outcome: None,
    name: str = "",
) -> ImportReport:
    """Import members (``member_id,name,phone,birthday,joined_at``): new ones are created, known
    ones get the fields given (an empty cell leaves a field as it is), never a duplicate."""
    report = ImportReport(path=str(path), dry_run=dry_run)
    report.counts = dict.fromkeys(("read", "created", "changed", "unchanged", "rejected"), 0)
    counts = report.counts
    staging = Staging()
    try:

        def reject(number, raw, column, message):
            error = f"{name or path}: row {number}, column {column}: {message}"
            on_error(error)
            staging.reject(number, raw, error)
            counts["rejected"] += 1
            on_row(number, Rejection(column, message))

        for row in read_rows(path, required=MEMBER_REQUIRED, known=MEMBER_COLUMNS, encoding=encoding):
            counts["read"] += 1
            try:
                fields = member_parse(row.values)
            except FieldError as exc:
                reject(row.number, row.raw, exc.field, exc.message)
                continue
            payload = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
            staging.stage(row.number, f"{row.number:012d}", fields["member_id"], payload, row.raw)
        for number, raw, member_id, first in staging.duplicates():
            reject(number, raw, "member_id", f"member {member_id} already appears in row {first}")

        total, done = staging.count(), 0
        for staged in staging.in_order(batch_size):
            batch = []
            for number, raw, payload in staged:
                payload["birthday"] = payload["birthday"] and date.fromisoformat(payload["birthday"])
                payload["joined_at"] = payload["joined_at"] and datetime.fromisoformat(payload["joined_at"])
                batch.append((number, raw, payload))
            with transaction.atomic():  # each member once per file: batches are independent
                outcomes = members_upsert_batch(rows=[p for _, _, p in batch]).outcomes
                transaction.set_rollback(dry_run)
            for (number, raw, _), outcome in zip(batch, outcomes):
                if isinstance(outcome, Rejection):
                    reject(number, raw, outcome.field, outcome.message)
                else:
                    counts[outcome.outcome] += 1
                    on_row(number, outcome)
            done += len(batch)
            on_progress("book", done, total)
        if counts["rejected"] and not dry_run:
            report.rejected_path = write_rejected(path, read_header(path, encoding), staging.rejected(), encoding)
    finally:
        staging.close()
    return report


# ---------------------------------------------------------------- import jobs

IMPORTS = {"orders": orders_import, "members": members_import, "balances": balances_import}


def import_job_create(*, kind: str, upload, actor, book_points: bool = True):
    """Keep an uploaded file as an ``ImportJob`` and queue it for a worker (after the commit)."""
    from .models import ImportJob
    from .tasks import import_job_run_task

    if kind not in IMPORTS:
        raise ValidationError({"kind": f"unknown import kind {kind!r}"})
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
        if job.kind == "balances":
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
