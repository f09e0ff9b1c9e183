"""Importing the contract's files: streamed, staged, booked in batches.

1. The file is read row by row; each row is parsed and checked on its own (``reading``), and the
   valid ones go to a staging table in a temporary SQLite file (``staging``), so memory does not
   grow with the file.
2. The staging table finds orders that appear twice (the later rows are rejected, naming the
   first) and hands the orders back in booking order: ``paid_at``, then ``order_id``. When no
   booking depends on other members' (no rule valid over the file is bounded by a budget that
   members share: ``services.orders_independent``), each member's orders come in that order, one
   member after another: a batch then holds the rows of fewer members, and each member's row,
   points account and cap usage is read and written in one or two batches, not in every one.
3. The orders are booked in batches by ``services.orders_book_batch``; each batch is one
   transaction, so a crash leaves whole batches and running the same file again books the rest
   (what was booked comes back as unchanged).

Bookings of different members do not depend on each other (caps, lots, balances and cashback are
each a member's own), so with ``workers`` above 1 the staged rows are split by member into that
many shares, each booked in its own process and database connection (``processes``), every
member's orders still in booking order within one process.

Rejected rows are kept in the staging file too and written, in row order, to ``PATH.rejected.csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.bulk import tables_analyze
from common.collector import few_collections
from common.csvio import FieldError, read_header, read_rows, row_error, write_rejected
from common.exclusive import file_exclusive
from common.roles import permission_require
from points.models import PointsAccount, PointsEntry, PointsLot

from ..models import GrowthEntry, Member, Order, OrderCredit, Program
from ..services import OpeningBalance, Rejection, members_upsert_batch, opening_balances_book_batch, orders_book_batch, orders_independent
from .processes import batch_book, book_in_processes
from .reading import (
    BALANCE_COLUMNS,
    BALANCE_REQUIRED,
    MEMBER_COLUMNS,
    MEMBER_REQUIRED,
    ORDER_COLUMNS,
    ORDER_REQUIRED,
    ImportKind,
    ImportReport,
    balance_parse,
    member_parse,
    order_from_payload,
    order_parse,
    order_payload,
)
from .staging import Staging, shard_of

# How the sentences name the rows of each kind of import (``ImportKind.noun``, in the plural), and the
# thing a kind's key column names (``order_id``: an order); other kinds are named by their English noun.
PLURALS = {
    "order": gettext_lazy("orders"),
    "member": gettext_lazy("members"),
    "opening balance": gettext_lazy("opening balances"),
    "mall item": gettext_lazy("mall items"),
}
KEY_NOUNS = {"order": gettext_lazy("order"), "member": gettext_lazy("member")}


def _plural(kind: ImportKind) -> str:
    return str(PLURALS.get(kind.noun, f"{kind.noun}s"))


def import_file(
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
    there are batches). While one import of a file runs, another of the same content is refused
    (``FileBusy``), unless it is a dry run.
    """
    permission_require(actor, kind.permission, _("import %(what)s") % {"what": _plural(kind)})
    with nullcontext() if dry_run else file_exclusive(path, what=f"{kind.noun}s", label=name or path, shown=_plural(kind)), few_collections():
        return _import_file(kind, path, encoding, dry_run, batch_size, workers, on_error, on_progress, on_row, name or path)


def _import_file(kind, path, encoding, dry_run, batch_size, workers, on_error, on_progress, on_row, label) -> ImportReport:
    report = ImportReport(path=str(path), dry_run=dry_run)
    report.counts = counts = dict.fromkeys(kind.counts, 0)
    staging = Staging()
    try:

        def reject(number, raw, column, message):
            error = row_error(label, number, column, message)
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

        thing = kind.columns[0].removesuffix("_id")
        for number, raw, key, first in staging.duplicates():
            reject(
                number, raw, kind.columns[0],
                _("%(thing)s %(key)s already appears in row %(first)s") % {"thing": KEY_NOUNS.get(thing, thing), "key": key, "first": first},
            )

        total, done = staging.count(), 0
        span = staging.span()
        staging.order(by_member=bool(kind.by_member and span and kind.by_member(*span)))

        def take(booked):
            """Count a booked batch: (row, outcome) for each of its rows."""
            nonlocal done
            for number, outcome in booked:
                if isinstance(outcome, Rejection):
                    reject(number, staging.raw(number), outcome.field, outcome.message)
                    continue
                counts[outcome.outcome] += 1
                if "capped" in counts:
                    counts["capped"] += bool(outcome.capped)
                on_row(number, outcome)
            done += len(booked)
            on_progress("book", done, total)

        shares = min(workers, max(1, total // batch_size))
        if shares > 1 and kind.member_of and not dry_run and connection.vendor == "postgresql" and not connection.in_atomic_block:
            book_in_processes(kind, staging, shares, batch_size, take)
        else:
            with transaction.atomic() if dry_run and kind.dependent_batches else nullcontext():
                for staged in staging.in_order(batch_size):
                    outcomes = batch_book(kind, staged, rollback=dry_run and not kind.dependent_batches)
                    take([(number, outcome) for (number, _), outcome in zip(staged, outcomes)])
                if dry_run and kind.dependent_batches:
                    transaction.set_rollback(True)

        if not dry_run:
            tables_analyze(kind.tables, written=sum(counts.get(outcome, 0) for outcome in ("created", "changed")))
        if counts["rejected"] and not dry_run:
            report.rejected_path = write_rejected(path, read_header(path, encoding), staging.rejected(), encoding)
    finally:
        staging.close()
    return report


SORT_TIME = "%Y-%m-%dT%H:%M:%S.%f"  # an order's sort key: its paid_at in UTC


def _sort_time(key: str) -> datetime:
    return datetime.strptime(key, SORT_TIME).replace(tzinfo=UTC)


def orders_import(*, path: str, program: Program, book_points: bool = True, **options) -> ImportReport:
    """Import an orders file as CONTRACT.md says: each order booked by the program's rules, in
    order of ``paid_at``, then ``order_id``; a dry run books the file and rolls it all back."""

    def parse(values):
        facts = order_parse(values)
        return facts.paid_at.astimezone(UTC).strftime(SORT_TIME), facts.order_id, order_payload(facts)

    def book(payloads):
        return orders_book_batch(facts=[order_from_payload(p) for p in payloads], program=program, book_points=book_points).outcomes

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
        by_member=lambda first, last: orders_independent(since=_sort_time(first), until=_sort_time(last)),
        tables=(Order, OrderCredit, GrowthEntry, PointsEntry, PointsLot, PointsAccount, Member),
    )
    return import_file(kind, path=path, **options)


def balances_import(*, path: str, program: Program, actor=None, **options) -> ImportReport:
    """Import opening balances (``member_id,points,earned_on,growth,growth_on``), once per member."""
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
        tables=(GrowthEntry, PointsEntry, PointsLot, PointsAccount),
    )
    return import_file(kind, path=path, actor=actor, **options)


def members_import(*, path: str, actor=None, **options) -> ImportReport:
    """Import members (``member_id,name,phone,birthday,joined_at``, optionally ``base_score``): new ones are created, known
    ones get the fields given (an empty cell leaves a field as it is), never a duplicate. A base
    score is taken only from an actor who may set it (the system, or a Program admin)."""
    may_score = actor is None or actor.has_perm("membership.change_base_score")

    def parse(values):
        fields = member_parse(values)
        if fields["base_score"] is not None and not may_score:
            raise FieldError("base_score", _("base_score counts toward the level: only a Program admin may set it"))
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
        tables=(Member,),
    )
    return import_file(kind, path=path, actor=actor, **options)
