from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from common.commands import ContractCommand, error_field, validation_text
from common.csvio import FieldError, parse_amount, parse_when, read_header, read_rows, write_rejected
from membership.models import Member, Order
from membership.rules import OrderFacts
from membership.selectors import NoActiveProgram, program_active_get
from membership.booking import Rejection, orders_book_batch
from membership.services import order_validate

COLUMNS = (
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
REQUIRED = ("order_id", "member_id", "paid_at", "status", "goods_amount")


def parse_order(values: dict) -> OrderFacts:
    for field in ("order_id", "member_id", "status"):
        if not values.get(field):
            raise FieldError(field, f"{field} is required")
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


class Command(ContractCommand):
    help = "Import orders from CSV and book their growth and points under the active program, idempotently."
    expected_errors = ContractCommand.expected_errors + (NoActiveProgram,)

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--no-points", action="store_true", help="credit growth only (the legacy system paid the points)")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--batch-size", type=int, default=5000, help="orders booked per transaction (default 5000)")

    def handle(self, *args, path, dry_run, no_points, encoding, batch_size, **options):
        program = program_active_get()
        counts = {"read": 0, "created": 0, "changed": 0, "unchanged": 0, "rejected": 0, "capped": 0}
        rejected, valid, first_row = [], [], {}

        def reject(row, field, message):
            error = f"{path}: row {row.number}, column {field}: {message}"
            self.stderr.write(error)
            rejected.append((row.number, row.raw, error))
            counts["rejected"] += 1

        for row in read_rows(path, required=REQUIRED, known=COLUMNS, encoding=encoding):
            counts["read"] += 1
            try:
                facts = parse_order(row.values)
            except (FieldError, ValidationError) as exc:
                reject(row, error_field(exc), exc.message if isinstance(exc, FieldError) else validation_text(exc))
                continue
            if facts.order_id in first_row:
                reject(row, "order_id", f"order {facts.order_id} already appears in row {first_row[facts.order_id]}")
                continue
            first_row[facts.order_id] = row.number
            valid.append((row, facts))

        known = set()
        member_ids = sorted({facts.member_id for _, facts in valid})
        for start in range(0, len(member_ids), 5000):
            chunk = member_ids[start : start + 5000]
            known.update(Member.objects.filter(member_id__in=chunk).values_list("member_id", flat=True))

        # Orders are applied in order of paid_at, then order_id, so caps fall the same way on every run.
        valid.sort(key=lambda item: (item[1].paid_at, item[1].order_id))
        bookable = []
        for row, facts in valid:
            if facts.member_id not in known:
                reject(row, "member_id", f"unknown member {facts.member_id!r}")
            elif not dry_run:
                bookable.append((row, facts))
        done = 0
        for start in range(0, len(bookable), batch_size):
            batch = bookable[start : start + batch_size]
            booked = orders_book_batch(facts=[facts for _, facts in batch], program=program, book_points=not no_points)
            for (row, _), outcome in zip(batch, booked.outcomes):
                if isinstance(outcome, Rejection):
                    reject(row, outcome.field, outcome.message)
                    continue
                counts[outcome.outcome] += 1
                counts["capped"] += bool(outcome.capped)
            done += len(batch)
            self.progress(f"{done}/{len(bookable)} orders booked")
        if dry_run:
            counts["unchanged"] = 0
        if rejected and not dry_run:
            out = write_rejected(path, read_header(path, encoding), [(raw, error) for _, raw, error in sorted(rejected, key=lambda r: r[0])], encoding)
            self.stderr.write(f"rejected rows written to {out}")
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.stdout.write(f"dry run, nothing written: {summary}" if dry_run else summary)
        if counts["rejected"]:
            raise CommandError(f"{counts['rejected']} row(s) of {path} rejected")
