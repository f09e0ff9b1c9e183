"""The earning rule engine.

Each ``EarningRule`` row names a strategy by its ``kind``; the strategy reads the row's
parameters and computes what a fact (an order, an event) entitles a member to. Strategies are
pure: caps, idempotency and booking are the services' business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .hooks import member_condition, member_condition_choices, member_condition_get
from .lifecycle import LIFECYCLE_LABELS, LIFECYCLE_STAGES


def params_known(params: dict, known: tuple[str, ...]) -> None:
    """A parameter the strategy does not read is refused, named: a misspelt ``per_order_cap``
    would otherwise be kept and silently ignored."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValidationError({"params": _("unknown parameter %(unknown)s: this rule type takes %(known)s") % {
            "unknown": ", ".join(unknown), "known": ", ".join(known),
        }})


class ListField(forms.CharField):
    """Several values in one box, separated by commas (categories): a list of them."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, (list, tuple)) else value

    def to_python(self, value):
        return [part.strip() for part in (value or "").split(",") if part.strip()]


class LevelValuesField(forms.CharField):
    """A number per level in one box, ``V3=1.5, V4=2``: {level code: number}."""

    def prepare_value(self, value):
        return ", ".join(f"{code}={number}" for code, number in value.items()) if isinstance(value, dict) else value

    def to_python(self, value):
        values = {}
        for part in (value or "").split(","):
            if not part.strip():
                continue
            code, equals, number = part.partition("=")
            try:
                number = Decimal(number.strip())
            except ArithmeticError:
                number = None
            if not equals or not code.strip() or number is None or not number.is_finite():
                raise ValidationError(_("%(part)s is not a level and a number, such as V3=1.5") % {"part": repr(part.strip())})
            values[code.strip()] = int(number) if number == number.to_integral_value() else float(number)
        return values


@dataclass(frozen=True)
class OrderFacts:
    order_id: str
    member_id: str
    paid_at: datetime
    status: str
    goods_amount: Decimal
    discount_amount: Decimal = Decimal("0")
    shipping_amount: Decimal = Decimal("0")
    refunded_amount: Decimal = Decimal("0")
    category: str = ""
    shop_id: str = ""
    special_invoice: bool = False
    offset_amount: Decimal = Decimal("0")  # the part paid with points (a cash offset), in yuan


@dataclass(frozen=True)
class EarningContext:
    """What an order rule may ask beyond the order: the member's level code, their lifecycle stage
    before the order, the member conditions that held on the order's day (``MEMBER_CONDITIONS``
    keys) and whether the part paid with points earns (the program's setting)."""

    level: str = ""
    stage: str = ""
    conditions: frozenset = frozenset()
    offset_earns: bool = True


def _number(params: dict, name: str, default=None) -> Decimal | None:
    """A parameter as a finite number, or a refusal naming it."""
    value = params.get(name, default)
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        number = None
    if isinstance(value, bool) or number is None or not number.is_finite():
        raise ValidationError({"params": _("%(param)s must be a number, not %(value)s") % {"param": name, "value": repr(value)}})
    if number < 0:
        raise ValidationError({"params": _("%(param)s must not be negative") % {"param": name}})
    return number


def _texts(params: dict, name: str) -> list:
    value = params.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({"params": _("%(param)s must be a list of codes") % {"param": name}})
    return value


class OrderAmountStrategy:
    """Per-yuan rate on the order's qualified amount, for the orders and members it applies to.

    params:
      rate            points or growth per yuan (default 1; VIP.com uses 5)
      per_order_cap   the most one order can earn (optional)
      statuses        order statuses that earn (default ["completed"])
      include_shipping  whether shipping counts toward the qualified amount (default false)
      min_amount      orders whose qualified amount is below this earn nothing (optional)
      categories / exclude_categories   only / never these categories (optional)
      shops / exclude_shops             only / never these shops (optional)
      level_rates     {level code: rate}: the rate of members at that level instead of ``rate``
      level_multipliers  {level code: factor}: the rate of members at that level multiplied
      stages          only members at these lifecycle stages before the order (optional)
      when            only members for whom this member condition holds on the order's day
                      (``hooks.MEMBER_CONDITIONS``: ``subscribed``, ``not_subscribed``…, or a
                      member list ``segment:CODE``)
      fixed           a fixed amount more for every order it applies to whose qualified amount
                      is above 0 (a campaign's bonus per order; with ``rate`` 0, the bonus alone)
    Qualified amount = goods − discount − refunded (+ shipping if included, − the part paid with
    points unless the program lets it earn), never below 0; the result is rounded down to a
    whole number. What the rule asks of the member is read when the order is first booked and
    kept on the order, so that a later change (a refund) is weighed the same way.
    """

    kind = "order_amount"
    fact = "order"
    PARAMS = (
        "rate", "per_order_cap", "statuses", "include_shipping", "min_amount", "categories", "exclude_categories",
        "shops", "exclude_shops", "level_rates", "level_multipliers", "stages", "when", "fixed",
    )

    @staticmethod
    def param_fields() -> dict:
        return {
            "rate": forms.DecimalField(label=gettext_lazy("rate"), min_value=0, decimal_places=4, help_text=gettext_lazy("Growth or points per yuan of the qualified amount (default 1; VIP.com gives 5).")),
            "per_order_cap": forms.IntegerField(label=gettext_lazy("at most an order"), min_value=1, help_text=gettext_lazy("The most one order can earn (empty: no cap).")),
            "statuses": forms.MultipleChoiceField(
                label=gettext_lazy("order statuses that earn"), choices=lambda: apps.get_model("membership", "Order").Status.choices, widget=forms.CheckboxSelectMultiple,
                help_text=gettext_lazy("None ticked: completed orders only."),
            ),
            "include_shipping": forms.BooleanField(label=gettext_lazy("shipping counts"), help_text=gettext_lazy("Whether the shipping fee counts toward the qualified amount.")),
            "min_amount": forms.DecimalField(label=gettext_lazy("minimum qualified amount"), min_value=0, decimal_places=2, help_text=gettext_lazy("Orders whose qualified amount is below this many yuan earn nothing (empty: any amount).")),
            "categories": ListField(label=gettext_lazy("only these categories"), help_text=gettext_lazy("Category codes, separated by commas (empty: every category).")),
            "exclude_categories": ListField(label=gettext_lazy("never these categories"), help_text=gettext_lazy("Category codes, separated by commas.")),
            "shops": ListField(label=gettext_lazy("only these shops"), help_text=gettext_lazy("Shop ids, separated by commas (empty: every shop).")),
            "exclude_shops": ListField(label=gettext_lazy("never these shops"), help_text=gettext_lazy("Shop ids, separated by commas.")),
            "level_rates": LevelValuesField(label=gettext_lazy("rate by level"), help_text=gettext_lazy("A rate of its own for members at a level, such as V3=1.5, V4=2; other levels earn the rate above.")),
            "level_multipliers": LevelValuesField(label=gettext_lazy("multiplier by level"), help_text=gettext_lazy("The rate multiplied for members at a level, such as V4=2 (double for V4).")),
            "stages": forms.MultipleChoiceField(
                label=gettext_lazy("only members who are"), choices=list(LIFECYCLE_LABELS.items()), widget=forms.CheckboxSelectMultiple,
                help_text=gettext_lazy("The member's lifecycle stage before the order (none ticked: every stage). A comeback offer: dormant and lost."),
            ),
            "fixed": forms.IntegerField(label=gettext_lazy("fixed amount an order"), min_value=1, help_text=gettext_lazy("A fixed amount more for every order the rule applies to (a bonus per order; with a rate of 0, the bonus alone).")),
            "when": forms.ChoiceField(
                label=gettext_lazy("only members who"), choices=lambda: [("", gettext_lazy("every member (default)")), *((k, label) for k, label in member_condition_choices() if k != "any")],
                help_text=gettext_lazy("A condition the member meets on the order's day, such as being a paid member, or a member list (segment:CODE) they are on."),
            ),
        }

    def __init__(self, params: dict):
        self.rate = Decimal(str(params.get("rate", 1)))
        self.per_order_cap = params.get("per_order_cap")
        self.statuses = set(params.get("statuses", ["completed"]))
        self.include_shipping = bool(params.get("include_shipping", False))
        self.min_amount = Decimal(str(params["min_amount"])) if params.get("min_amount") is not None else None
        self.categories = set(params.get("categories") or [])
        self.exclude_categories = set(params.get("exclude_categories") or [])
        self.shops = set(params.get("shops") or [])
        self.exclude_shops = set(params.get("exclude_shops") or [])
        self.level_rates = {code: Decimal(str(v)) for code, v in (params.get("level_rates") or {}).items()}
        self.level_multipliers = {code: Decimal(str(v)) for code, v in (params.get("level_multipliers") or {}).items()}
        self.stages = set(params.get("stages") or [])
        self.when = params.get("when") or ""
        self.fixed = int(params.get("fixed") or 0)

    @property
    def asks_member(self) -> bool:
        """Whether what the rule gives depends on the member (level, stage, a condition)."""
        return bool(self.level_rates or self.level_multipliers or self.stages or self.when)

    @classmethod
    def validate_params(cls, params: dict, currency: str | None = None, program=None) -> None:
        params_known(params, cls.PARAMS)
        _number(params, "rate", 1)
        _number(params, "min_amount")
        for name in ("per_order_cap", "fixed"):
            value = params.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ValidationError({"params": _("%(param)s must be a positive whole number") % {"param": name}})
        for name in ("statuses", "categories", "exclude_categories", "shops", "exclude_shops", "stages"):
            _texts(params, name)
        unknown = sorted(set(params.get("statuses") or []) - set(apps.get_model("membership", "Order").Status.values))
        if unknown:
            raise ValidationError({"params": _("statuses: unknown order status %(unknown)s") % {"unknown": ", ".join(unknown)}})
        unknown = sorted(set(params.get("stages") or []) - set(LIFECYCLE_STAGES))
        if unknown:
            raise ValidationError({"params": _("stages: unknown lifecycle stage %(unknown)s; known: %(known)s") % {"unknown": ", ".join(unknown), "known": ", ".join(LIFECYCLE_STAGES)}})
        when = params.get("when") or ""
        if when and (not isinstance(when, str) or when == "any" or member_condition_get(when, program=program) is None):
            raise ValidationError({"params": _("when: unknown condition %(when)s; known: %(known)s") % {"when": repr(when), "known": ", ".join(k for k, _label in member_condition_choices() if k != "any")}})
        levels = set(program.levels.values_list("code", flat=True)) if program is not None and program.pk else None
        for name in ("level_rates", "level_multipliers"):
            values = params.get(name) or {}
            if not isinstance(values, dict):
                raise ValidationError({"params": _("%(param)s must give a number per level code, such as V3=1.5") % {"param": name}})
            for code in values:
                _number(values, code)
            unknown = sorted(set(values) - levels) if levels is not None else []
            if unknown:
                raise ValidationError({"params": _("%(param)s: the program has no level %(unknown)s; its levels are %(known)s") % {
                    "param": name, "unknown": ", ".join(unknown), "known": ", ".join(sorted(levels)),
                }})

    @staticmethod
    def qualified_amount(order: OrderFacts, include_shipping: bool = False, offset_earns: bool = True) -> Decimal:
        amount = order.goods_amount - order.discount_amount - order.refunded_amount
        if include_shipping:
            amount += order.shipping_amount
        if not offset_earns:
            amount -= order.offset_amount
        return max(amount, Decimal("0"))

    def rate_for(self, level: str) -> Decimal:
        return self.level_rates.get(level, self.rate) * self.level_multipliers.get(level, 1)

    def highest_rate(self) -> Decimal:
        return max([self.rate_for(level) for level in {*self.level_rates, *self.level_multipliers}] + [self.rate])

    def uncapped(self, order: OrderFacts, context: EarningContext | None = None) -> int:
        """What the order would earn without the per-order cap; without a ``context``, the most
        that any member could earn with it."""
        if order.status not in self.statuses:
            return 0
        if self.categories and order.category not in self.categories:
            return 0
        if order.category and order.category in self.exclude_categories:
            return 0
        if self.shops and order.shop_id not in self.shops:
            return 0
        if order.shop_id and order.shop_id in self.exclude_shops:
            return 0
        qualified = self.qualified_amount(order, self.include_shipping, offset_earns=context.offset_earns if context else True)
        if self.min_amount is not None and qualified < self.min_amount:
            return 0
        if context is None:
            rate = self.highest_rate()
        else:
            if self.stages and context.stage not in self.stages:
                return 0
            if self.when and self.when not in context.conditions:
                return 0
            rate = self.rate_for(context.level)
        return max(math.floor(qualified * rate), 0) + (self.fixed if qualified > 0 else 0)

    def entitlement(self, order: OrderFacts, context: EarningContext | None = None) -> int:
        value = self.uncapped(order, context)
        if self.per_order_cap is not None:
            value = min(value, int(self.per_order_cap))
        return value


class EventFixedStrategy:
    """A fixed amount per behaviour event.

    params:
      event_type   the behaviour (check_in, review, first_transfer, …)
      amount       what one event earns
      once         true for a one-time task (the first event only)
      per_day / per_month   how many events earn in a local day / calendar month (optional)
    """

    kind = "event_fixed"
    fact = "event"
    PARAMS = ("event_type", "amount", "once", "per_day", "per_month")

    @staticmethod
    def param_fields() -> dict:
        return {
            "event_type": forms.SlugField(label=gettext_lazy("event type"), help_text=gettext_lazy("The behaviour the platform reports: check_in, review, first_transfer…")),
            "amount": forms.IntegerField(label=gettext_lazy("amount"), min_value=1, help_text=gettext_lazy("What one event earns.")),
            "once": forms.BooleanField(label=gettext_lazy("once only"), help_text=gettext_lazy("A one-time task: only the member's first such event earns.")),
            "per_day": forms.IntegerField(label=gettext_lazy("events a day"), min_value=1, help_text=gettext_lazy("How many events earn in a local day (empty: no limit).")),
            "per_month": forms.IntegerField(label=gettext_lazy("events a month"), min_value=1, help_text=gettext_lazy("How many events earn in a calendar month (empty: no limit).")),
        }

    def __init__(self, params: dict):
        self.event_type = params["event_type"]
        self.amount = int(params["amount"])
        self.once = bool(params.get("once", False))
        self.per_day = params.get("per_day")
        self.per_month = params.get("per_month")

    @classmethod
    def validate_params(cls, params: dict, currency: str | None = None, program=None) -> None:
        params_known(params, cls.PARAMS)
        if not params.get("event_type"):
            raise ValidationError({"params": _("event_type is required")})
        amount = params.get("amount")
        if not isinstance(amount, int) or amount <= 0:
            raise ValidationError({"params": _("amount must be a positive whole number")})
        for key in ("per_day", "per_month"):
            value = params.get(key)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValidationError({"params": _("%(param)s must be a positive whole number") % {"param": key}})

    def matches(self, event_type: str) -> bool:
        return event_type == self.event_type


class DailyStrategy:
    """A fixed amount for every day on which a condition holds for the member (time-based rules).

    Run once a day for the day before by ``services.daily.daily_rules_run``, not by a fact of the member.

    params:
      amount   what one day earns; negative for a decay (growth only)
      when     the condition (``hooks.MEMBER_CONDITIONS``: ``any``, ``subscribed``,
               ``subscribed_annual``, ``not_subscribed``…, or a member list ``segment:CODE``;
               default ``any``)
      floor    for a decay: the member's growth never goes below this by decay (default 0)
    Weibo: 10 growth a day while a paying member, 5 more while on a yearly plan. Tencent Video:
    growth a day while a member, minus a decay while not, never below 0.
    """

    kind = "daily"
    fact = "day"
    PARAMS = ("amount", "when", "floor")

    @staticmethod
    def param_fields() -> dict:
        return {
            "amount": forms.IntegerField(label=gettext_lazy("amount a day"), help_text=gettext_lazy("What each day earns; negative for a decay (growth only).")),
            "when": forms.ChoiceField(
                label=gettext_lazy("on days when"), choices=lambda: [("", gettext_lazy("every active member (default)")), *member_condition_choices()],
                help_text=gettext_lazy("The condition the member meets that day."),
            ),
            "floor": forms.IntegerField(label=gettext_lazy("floor"), min_value=0, help_text=gettext_lazy("For a decay: the growth it never takes the member below (default 0).")),
        }

    def __init__(self, params: dict):
        self.amount = int(params["amount"])
        self.when = params.get("when") or "any"
        self.floor = int(params.get("floor") or 0)

    @classmethod
    def validate_params(cls, params: dict, currency: str | None = None, program=None) -> None:
        params_known(params, cls.PARAMS)
        amount = params.get("amount")
        if not isinstance(amount, int) or amount == 0:
            raise ValidationError({"params": _("amount must be a whole number other than 0 (negative for a decay)")})
        if amount < 0 and currency == "points":
            raise ValidationError({"params": _("a decay applies to growth only; points end by the program's expiry policy")})
        when = params.get("when") or "any"
        if not isinstance(when, str) or member_condition_get(when, program=program) is None:
            raise ValidationError({"params": _("unknown condition %(when)s; known: %(known)s") % {"when": repr(when), "known": ", ".join(k for k, _label in member_condition_choices())}})
        floor = params.get("floor", 0)
        if not isinstance(floor, int) or floor < 0:
            raise ValidationError({"params": _("floor must be a whole number, 0 or more")})


@member_condition("any", label="every active member")
def _any(*, program, day) -> Q:
    return Q()


STRATEGIES = {cls.kind: cls for cls in (OrderAmountStrategy, EventFixedStrategy, DailyStrategy)}


def strategy_for(rule):
    """The strategy object for an ``EarningRule`` row, made once per loaded row and its parameters."""
    cached = rule.__dict__.get("_strategy")
    if cached is None or cached[0] is not rule.params or cached[1] != rule.kind:
        cached = rule._strategy = (rule.params, rule.kind, STRATEGIES[rule.kind](rule.params or {}))
    return cached[2]


def rules_applicable(*, rules, program, fact: str, at: datetime, include_ids=()) -> list:
    """Which of ``rules`` govern a fact (an order, an event, a day) at ``at``, highest priority
    first: the program's active rules of a strategy for that kind of fact, valid at ``at``, and the
    rules given by id (rules that already credited the fact keep governing it). The one place that
    says so, for the single and the batch path."""
    kinds = {kind for kind, strategy in STRATEGIES.items() if strategy.fact == fact}
    chosen = [
        rule
        for rule in rules
        if rule.pk in include_ids
        or (
            rule.program_id == program.pk
            and rule.kind in kinds
            and rule.is_active
            and (rule.valid_from is None or rule.valid_from <= at)
            and (rule.valid_until is None or rule.valid_until > at)
        )
    ]
    return sorted(chosen, key=lambda rule: (-rule.priority, rule.code, rule.pk))
