"""The mall's catalog as data: items and their per-level prices from a preset or a CSV file.

Both paths go through ``mall_item_upsert``: an item is matched by its program and code, and
loading the same data twice changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from common.csvio import FieldError, parse_when, parse_whole
from common.ledger import ENTRY_MAX
from membership.imports import ImportKind, ImportReport, import_file
from membership.models import Program
from membership.selectors import program_active_get
from membership.services import Rejection

from .models import MallItem, MallPrice

ITEM_FIELDS = ("name", "name_en", "kind", "description", "stock", "limit_per_member", "limit_period", "available_from", "available_until", "is_active")
ITEM_COLUMNS = ("code", *ITEM_FIELDS, "prices")
ITEM_REQUIRED = ("code", "name", "kind")


@dataclass
class ItemOutcome:
    outcome: str  # created, changed or unchanged
    capped: int = 0


@transaction.atomic
def mall_item_upsert(*, program: Program, spec: dict) -> str:
    """Make the program's item ``spec["code"]`` hold ``spec``; ``prices`` (level code → points), when
    given, become exactly the item's prices. Returns created, changed or unchanged."""
    levels = {level.code: level for level in program.levels.all()}
    prices = spec.get("prices")
    if prices is not None:
        unknown = sorted(set(prices) - set(levels))
        if unknown:
            raise ValidationError({"prices": _("level %(unknown)s is not a level of program %(program)s (%(levels)s)") % {
                "unknown": ", ".join(unknown), "program": program.code, "levels": ", ".join(levels),
            }})
        for code, points in prices.items():
            if not isinstance(points, int) or points <= 0:
                raise ValidationError({"prices": _("the price for %(level)s must be a whole number of points above 0") % {"level": code}})
    item = MallItem.objects.select_for_update().filter(program=program, code=spec["code"]).first()
    outcome = "unchanged"
    if item is None:
        item, outcome = MallItem(program=program, code=spec["code"]), "created"
    values = {k: v for k, v in spec.items() if k in ITEM_FIELDS}
    if any(getattr(item, k) != v for k, v in values.items()) or item.pk is None:
        for k, v in values.items():
            setattr(item, k, v)
        item.full_clean()
        item.save()
        outcome = "changed" if outcome == "unchanged" else outcome
    if prices is not None:
        current = dict(item.prices.values_list("level__code", "points"))
        if current != prices:
            item.prices.exclude(level__code__in=list(prices)).delete()
            for code, points in prices.items():
                MallPrice.objects.update_or_create(item=item, level=levels[code], defaults={"points": points})
            outcome = "changed" if outcome == "unchanged" else outcome
    return outcome


def mall_catalog_sync(*, program: Program, specs: list[dict]) -> int:
    """The ``mall`` section of a program preset: items with ``prices`` by level code; returns rows changed.

    A preset's ``stock`` is the opening stock of a new item: loading the preset again does not
    put back what members have redeemed since."""
    changed = 0
    for spec in specs:
        if MallItem.objects.filter(program=program, code=spec["code"]).exists():
            spec = {k: v for k, v in spec.items() if k != "stock"}
        changed += mall_item_upsert(program=program, spec=spec) != "unchanged"
    return changed


def _whole(values: dict, name: str) -> int | None:
    return parse_whole(values.get(name, ""), name, maximum=ENTRY_MAX)


def _prices(text: str) -> dict[str, int] | None:
    """``V3:2250;V4:1500`` → {"V3": 2250, "V4": 1500}; an empty cell leaves the prices as they are."""
    text = (text or "").strip()
    if not text:
        return None
    prices = {}
    for part in text.replace("；", ";").split(";"):
        code, sep, points = part.partition(":")
        code, points = code.strip(), points.strip().replace(",", "")
        if not part.strip():
            continue
        if not sep or not code or not points.isascii() or not points.isdigit() or not 0 < int(points) <= ENTRY_MAX:
            raise FieldError("prices", _("prices %(value)s: write each as LEVEL:POINTS separated by ';' (e.g. V3:2250;V4:1500)") % {"value": repr(text)})
        prices[code] = int(points)
    return prices


def mall_item_parse(values: dict) -> dict:
    """One CSV row as an item spec; raises ``FieldError`` naming the column at fault."""
    spec = {"code": values["code"], "name": values.get("name", ""), "kind": values.get("kind", "").lower()}
    if spec["kind"] not in MallItem.Kind.values:
        raise FieldError("kind", _("kind %(value)s is not one of %(known)s") % {"value": repr(values.get("kind", "")), "known": ", ".join(MallItem.Kind.values)})
    for name in ("name_en", "description"):
        if name in values:
            spec[name] = values[name]
    for name in ("stock", "limit_per_member"):
        if name in values:
            spec[name] = _whole(values, name)
    if values.get("limit_period"):
        period = values["limit_period"].lower()
        if period not in MallItem.LimitPeriod.values:
            raise FieldError("limit_period", _("limit_period %(value)s is not one of %(known)s") % {"value": repr(period), "known": ", ".join(MallItem.LimitPeriod.values)})
        spec["limit_period"] = period
    for name in ("available_from", "available_until"):
        if name in values:
            spec[name] = parse_when(values[name], name)
    if values.get("is_active"):
        flag = values["is_active"].lower()
        if flag not in ("1", "0", "true", "false", "yes", "no"):
            raise FieldError("is_active", _("is_active %(value)s is not true or false") % {"value": repr(flag)})
        spec["is_active"] = flag in ("1", "true", "yes")
    prices = _prices(values.get("prices", ""))
    if prices is not None:
        spec["prices"] = prices
    return spec


def mall_items_import(*, path: str, program: Program | None = None, **options) -> ImportReport:
    """Import mall items (``code,name,kind`` and optionally the other item columns and ``prices``)
    into ``program`` (the active one): new items are created, known ones updated, never duplicated."""
    program = program or program_active_get()

    def parse(values):
        spec = mall_item_parse(values)
        for key in ("available_from", "available_until"):
            if spec.get(key) is not None:
                spec[key] = spec[key].isoformat()
        return "", spec["code"], spec

    def book(payloads):
        outcomes = []
        for spec in payloads:
            for key in ("available_from", "available_until"):
                if spec.get(key):
                    spec[key] = datetime.fromisoformat(spec[key])
            try:
                with transaction.atomic():
                    outcomes.append(ItemOutcome(mall_item_upsert(program=program, spec=spec)))
            except ValidationError as exc:
                field, messages = next(iter(exc.message_dict.items())) if hasattr(exc, "message_dict") else ("code", exc.messages)
                outcomes.append(Rejection(field if field != "__all__" else "code", messages[0]))
        return outcomes

    kind = ImportKind(
        noun="mall item",
        permission="mall.add_mallitem",
        columns=ITEM_COLUMNS,
        required=ITEM_REQUIRED,
        counts=("read", "created", "changed", "unchanged", "rejected"),
        parse=parse,
        book=book,
    )
    return import_file(kind, path=path, **options)
