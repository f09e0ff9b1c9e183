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
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable

from django.core.exceptions import ValidationError

from common.csvio import FieldError, parse_amount, parse_when, read_header, read_rows, write_rejected

from .booking import Rejection, orders_book_batch
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


class _Staging:
    """The valid rows and the rejected ones of one import, in a temporary SQLite file."""

    def __init__(self):
        handle, self.path = tempfile.mkstemp(prefix="import-", suffix=".sqlite3")
        os.close(handle)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE staged (row INTEGER PRIMARY KEY, sort_key TEXT, order_id TEXT, facts TEXT, raw TEXT);
            CREATE TABLE rejected (row INTEGER PRIMARY KEY, raw TEXT, error TEXT);
            """
        )
        self.pending, self.pending_rejected = [], []

    def stage(self, number: int, facts: OrderFacts, raw: list[str]):
        utc = facts.paid_at.astimezone(UTC)
        values = [facts.order_id, facts.member_id, facts.paid_at.isoformat(), facts.status, *(str(getattr(facts, a)) for a in AMOUNTS), facts.category, facts.shop_id]
        self.pending.append((number, utc.strftime("%Y-%m-%dT%H:%M:%S.%f"), facts.order_id, json.dumps(values, ensure_ascii=False), json.dumps(raw, ensure_ascii=False)))
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

    def duplicates(self):
        """Rows whose order appeared in an earlier row: (row, raw, order_id, first row)."""
        self.flush()
        self.db.execute("CREATE INDEX staged_order ON staged (order_id, row)")
        return self.db.execute(
            """SELECT s.row, s.raw, s.order_id, f.first FROM staged s
               JOIN (SELECT order_id, MIN(row) AS first FROM staged GROUP BY order_id HAVING COUNT(*) > 1) f
               ON s.order_id = f.order_id WHERE s.row > f.first ORDER BY s.row"""
        ).fetchall()

    def unstage(self, rows: list[int]):
        self.db.executemany("DELETE FROM staged WHERE row = ?", [(r,) for r in rows])
        self.db.commit()

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM staged").fetchone()[0]

    def in_booking_order(self, size: int):
        """Batches of (row, raw, facts), in order of paid_at, then order_id."""
        self.db.execute("CREATE INDEX staged_booking ON staged (sort_key, order_id)")
        cursor = self.db.execute("SELECT row, raw, facts FROM staged ORDER BY sort_key, order_id")
        while rows := cursor.fetchmany(size):
            batch = []
            for number, raw, values in rows:
                order_id, member_id, paid_at, status, goods, discount, shipping, refunded, category, shop_id = json.loads(values)
                facts = OrderFacts(
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
                batch.append((number, raw, facts))
            yield batch

    def rejected(self):
        self.flush()
        for raw, error in self.db.execute("SELECT raw, error FROM rejected ORDER BY row"):
            yield json.loads(raw), error

    def close(self):
        self.db.close()
        os.unlink(self.path)


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
) -> ImportReport:
    """Import an orders file as CONTRACT.md says. Raises ``FileError`` if the file as a whole is unusable."""
    report = ImportReport(path=str(path), dry_run=dry_run)
    counts = report.counts
    staging = _Staging()
    try:

        def reject(number, raw, column, message):
            error = f"{path}: row {number}, column {column}: {message}"
            on_error(error)
            staging.reject(number, raw, error)
            counts["rejected"] += 1

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
            staging.stage(row.number, facts, row.raw)
            if counts["read"] % 10000 == 0:
                on_progress("read", counts["read"], 0)

        duplicates = staging.duplicates()
        for number, raw, order_id, first in duplicates:
            reject(number, json.loads(raw), "order_id", f"order {order_id} already appears in row {first}")
        staging.unstage([number for number, *_ in duplicates])

        total, done = staging.count(), 0
        for batch in staging.in_booking_order(batch_size):
            if dry_run:
                known = set(Member.objects.filter(member_id__in={f.member_id for _, _, f in batch}).values_list("member_id", flat=True))
                outcomes = [None if f.member_id in known else Rejection("member_id", f"unknown member {f.member_id!r}") for _, _, f in batch]
            else:
                outcomes = orders_book_batch(facts=[f for _, _, f in batch], program=program, book_points=book_points).outcomes
            for (number, raw, _), outcome in zip(batch, outcomes):
                if isinstance(outcome, Rejection):
                    reject(number, json.loads(raw), outcome.field, outcome.message)
                elif outcome is not None:
                    counts[outcome.outcome] += 1
                    counts["capped"] += bool(outcome.capped)
            done += len(batch)
            on_progress("book", done, total)

        if counts["rejected"] and not dry_run:
            report.rejected_path = write_rejected(path, read_header(path, encoding), staging.rejected(), encoding)
    finally:
        staging.close()
    return report
