"""What an import reads: the contract's columns, each row parsed and checked on its own (a
``FieldError`` or ``ValidationError`` naming the column), and what differs between the imports
(``ImportKind``); what an import reports (``ImportReport``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.utils.translation import gettext as _

from common.csvio import FieldError, parse_amount, parse_day, parse_flag, parse_whole, parse_when
from common.ledger import ENTRY_MAX
from common.timeutil import local_midnight

from ..models import Order
from ..rules import OrderFacts
from ..services import ORDER_FIELDS, ORDER_STATUSES, OpeningBalance, order_validate

ORDER_COLUMNS = ("order_id", "member_id", *ORDER_FIELDS)
ORDER_REQUIRED = ("order_id", "member_id", "paid_at", "status", "goods_amount")
AMOUNTS = ("goods_amount", "discount_amount", "shipping_amount", "refunded_amount", "offset_amount")


def order_parse(values: dict) -> OrderFacts:
    """An order's facts from a row of text, or ``FieldError``/``ValidationError`` naming the field."""
    for name in ("order_id", "member_id", "status"):
        if not values.get(name):
            raise FieldError(name, _("%(field)s is required") % {"field": name})
    status = values["status"].lower()
    if status not in ORDER_STATUSES:
        raise FieldError(
            "status", _("unknown status %(status)s (expected one of %(statuses)s)") % {"status": repr(values["status"]), "statuses": ", ".join(Order.Status.values)}
        )
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
        offset_amount=parse_amount(values.get("offset_amount", ""), "offset_amount"),
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


@dataclass
class ImportKind:
    """What differs between the imports: the columns, how a row is read, how a batch is booked.

    ``parse`` turns a row's values into (sort key, key unique in the file, what to stage);
    ``book`` books a batch of staged payloads and returns an outcome per payload. With
    ``dependent_batches``, later batches depend on earlier ones (caps, lots), so a dry run books
    the whole file in one transaction before rolling back; otherwise each batch is rolled back.
    ``member_of`` names the member a staged payload books for: the kinds that have it can be
    booked by several processes, each taking the rows of its own members. ``by_member``, given
    the first and last sort keys of the staged rows, says whether they may be booked member by
    member (each member's rows in booking order, one member after another): a batch then holds
    the rows of fewer members and writes each member's rows once. After an import that wrote
    many rows, PostgreSQL's statistics of ``tables`` are brought up to date.
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
    by_member: Callable[[str, str], bool] | None = None
    tables: tuple = ()  # the models whose tables a big import's statistics are updated for


def order_payload(facts: OrderFacts) -> list:
    return [facts.order_id, facts.member_id, facts.paid_at.isoformat(), facts.status, *(str(getattr(facts, a)) for a in AMOUNTS), facts.category, facts.shop_id, facts.special_invoice]


def order_from_payload(payload: list) -> OrderFacts:
    order_id, member_id, paid_at, status, goods, discount, shipping, refunded, offset, category, shop_id, special_invoice = payload
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
        offset_amount=Decimal(offset),
    )


BALANCE_COLUMNS = ("member_id", "points", "earned_on", "growth", "growth_on")
BALANCE_REQUIRED = ("member_id",)


def _whole(values: dict, name: str) -> int:
    return parse_whole(values.get(name, ""), name, maximum=ENTRY_MAX) or 0


def balance_parse(values: dict, tz) -> OpeningBalance:
    member_id = values.get("member_id", "")
    if not member_id:
        raise FieldError("member_id", _("member_id is required"))
    points, growth = _whole(values, "points"), _whole(values, "growth")
    earned_on, growth_on = parse_day(values.get("earned_on", ""), "earned_on"), parse_day(values.get("growth_on", ""), "growth_on")
    if points and earned_on is None:
        raise FieldError("earned_on", _("earned_on is required when points are given (the points expire by it)"))
    if growth and growth_on is None:
        raise FieldError("growth_on", _("growth_on is required when growth is given (the growth window counts it on that day)"))
    return OpeningBalance(
        member_id=member_id,
        points=points,
        earned_at=local_midnight(earned_on, tz) if earned_on else None,
        growth=growth,
        growth_at=local_midnight(growth_on, tz) if growth_on else None,
    )


MEMBER_COLUMNS = ("member_id", "name", "phone", "birthday", "joined_at", "base_score")
MEMBER_REQUIRED = ("member_id",)


def member_parse(values: dict) -> dict:
    member_id = values.get("member_id", "")
    if not member_id:
        raise FieldError("member_id", _("member_id is required"))
    if len(member_id) > 64:
        raise FieldError("member_id", _("member_id %(value)s… is longer than 64 characters") % {"value": repr(member_id[:20])})
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
    return parse_whole(text, "base_score", maximum=ENTRY_MAX)
