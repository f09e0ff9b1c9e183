"""The shapes of the API's requests and answers: DRF serializers check what comes in (types,
lengths, ranges) and document what goes out in the OpenAPI schema; the rules stay in the services."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from membership.models import Order
from membership.services import ORDER_STATUSES

from .event_schemas import events_schema_field

MAX_BATCH = 1000
YEARS = (1970, 2999)


class LocalDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time; a naive one is local time (``TIME_ZONE``), as in the order files. Only the
    years 1970 to 2999."""

    def to_internal_value(self, value):
        try:
            parsed = super().to_internal_value(value)
        except OverflowError:  # a time at the edge of year 1 or 9999 has no place in another time zone
            parsed = None
        if parsed is None or not YEARS[0] <= parsed.year <= YEARS[1]:
            raise serializers.ValidationError(_("must be between the years %(first)s and %(last)s") % {"first": YEARS[0], "last": YEARS[1]})
        return parsed


class StatusField(serializers.CharField):
    """An order status, in any case."""

    def to_internal_value(self, value):
        status = super().to_internal_value(value).lower()
        if status not in ORDER_STATUSES:
            raise serializers.ValidationError(
                _("unknown status %(status)r (expected one of %(known)s)") % {"status": value, "known": ", ".join(Order.Status.values)}
            )
        return status


def amount(required: bool = False, help_text=None):
    optional = {} if required else {"default": Decimal("0")}
    return serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), help_text=help_text or _("Yuan, a JSON number or a decimal string, with at most 2 decimals."), **optional
    )


# ---------------------------------------------------------------- members


class MemberInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    birthday = serializers.DateField(required=False)
    joined_at = LocalDateTimeField(required=False)


class ExpiringSerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField()
    amount = serializers.IntegerField()


class PointsSerializer(serializers.Serializer):
    available = serializers.IntegerField(help_text=_("What the member can spend now."))
    frozen = serializers.IntegerField(help_text=_("Frozen points (a trial's cashback): in the balance, not spendable."))
    balance = serializers.IntegerField(help_text=_("The booked balance: the sum of the points ledger."))
    expiring = ExpiringSerializer(many=True, help_text=_("The next end dates of the member's points and how many end then."))


class MemberOutSerializer(serializers.Serializer):
    member_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    joined_at = serializers.DateTimeField(allow_null=True)
    level = serializers.CharField(help_text=_("The level code after the last settlement (the lowest level before any)."))
    level_name = serializers.CharField()
    level_valid_until = serializers.DateField(allow_null=True)
    growth_total = serializers.IntegerField(help_text=_("Lifetime net growth: the sum of the growth ledger."))
    points_balance = serializers.IntegerField(help_text=_("Points available to spend now (not frozen, not expired)."))
    window_start = serializers.DateTimeField(allow_null=True, help_text=_("The growth window of the next settlement; null: lifetime."))
    window_end = serializers.DateTimeField()
    window_growth = serializers.IntegerField()
    to_keep = serializers.IntegerField(help_text=_("More growth needed in the window to keep the level."))
    next_level = serializers.CharField(allow_null=True)
    to_next = serializers.IntegerField(help_text=_("More growth needed to reach the next level."))
    monthly_pace = serializers.IntegerField(help_text=_("Growth a month over the last three months."))
    months_to_next = serializers.IntegerField(allow_null=True, help_text=_("Months to the next level at that pace."))
    next_settlement = serializers.CharField(help_text=_("The month (YYYY-MM) whose settlement the forecast is for."))
    drops_to = serializers.CharField(allow_null=True, help_text=_("The level that settlement drops the member to, unless they earn more; null: no drop."))
    points = PointsSerializer()


# ---------------------------------------------------------------- orders and events


class OrderInSerializer(serializers.Serializer):
    member_id = serializers.CharField(max_length=64)
    paid_at = LocalDateTimeField(help_text=_("ISO 8601; a naive time is local time."))
    status = StatusField(help_text=_("paid, completed, refunded or cancelled, in any case."))
    goods_amount = amount(required=True)
    discount_amount = amount()
    shipping_amount = amount()
    refunded_amount = amount()
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    shop_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    special_invoice = serializers.BooleanField(required=False, default=False)
    offset_amount = amount(help_text=_("The part of the order paid with points (a cash offset): yuan, with at most 2 decimals."))


class BatchOrderSerializer(OrderInSerializer):
    order_id = serializers.CharField(max_length=64)


class OrderBatchInSerializer(serializers.Serializer):
    orders = serializers.ListField(
        child=serializers.DictField(), max_length=MAX_BATCH, allow_empty=False,
        help_text=_("Each as the body of PUT /orders/{order_id}, with its order_id; at most 1,000."),
    )


class BookingOutSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["created", "changed", "unchanged"])
    growth = serializers.IntegerField(help_text=_("Growth this request booked (negative: taken back)."))
    points = serializers.IntegerField(help_text=_("Points this request booked (negative: taken back)."))


class BatchResultSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["created", "changed", "unchanged"], required=False)
    growth = serializers.IntegerField(required=False)
    points = serializers.IntegerField(required=False)
    error = serializers.CharField(required=False, help_text=_("Why the order was not booked: a sentence naming the field."))
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class OrderBatchOutSerializer(serializers.Serializer):
    results = BatchResultSerializer(many=True)


class EventInSerializer(serializers.Serializer):
    type = serializers.CharField(max_length=50, help_text=_("The behaviour: check_in, review, first_transfer…"))
    reference = serializers.CharField(max_length=40, help_text=_("The platform's id of the behaviour: the same member, type and reference book once."))
    occurred_at = LocalDateTimeField()


# ---------------------------------------------------------------- member reads


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    amount = serializers.IntegerField()
    capped = serializers.IntegerField()
    effective_at = serializers.DateTimeField()
    booked_at = serializers.DateTimeField()
    source = serializers.CharField()
    source_ref = serializers.CharField()
    reason = serializers.CharField()


class LedgerPageSerializer(serializers.Serializer):
    results = LedgerEntrySerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text=_("Pass as ``cursor`` for the next (older) page; null at the end."))


class GrantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    benefit = serializers.CharField(source="benefit.code")
    name = serializers.CharField(source="benefit.name")
    period = serializers.CharField()
    quantity = serializers.IntegerField()
    status = serializers.CharField()
    granted_at = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.CharField(source="plan.code")
    status = serializers.CharField()
    is_trial = serializers.BooleanField()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    renewals = serializers.IntegerField()


class InviteCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    link = serializers.CharField()


class CatalogItemSerializer(serializers.Serializer):
    item = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    points = serializers.IntegerField(help_text=_("The price at the member's level."))
    stock = serializers.IntegerField(allow_null=True)
    limit_per_member = serializers.IntegerField(allow_null=True)
    limit_period = serializers.CharField()


class FeedPageSerializer(serializers.Serializer):
    events = events_schema_field(many=True)
    next = serializers.CharField(help_text=_("Pass as ``after`` to continue; the same cursor when there was nothing new."))


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    version = serializers.IntegerField(help_text=_("The version of its data; a later one only adds fields."))
    schema = serializers.DictField(help_text=_("The JSON Schema (2020-12) of its events, as the feed gives them and a webhook posts them."))


class EventTypesSerializer(serializers.Serializer):
    types = EventTypeSerializer(many=True)


# ---------------------------------------------------------------- spending


class RedemptionInSerializer(serializers.Serializer):
    item = serializers.CharField(max_length=50)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, default=1)


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.CharField(source="item.code")
    quantity = serializers.IntegerField()
    points = serializers.IntegerField()
    status = serializers.CharField()
    redeemed_at = serializers.DateTimeField()


class ReasonInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class OffsetQuoteSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    yuan = serializers.DecimalField(max_digits=14, decimal_places=2)
    reason = serializers.CharField()
    available = serializers.IntegerField()
    max_share_percent = serializers.IntegerField()


class OffsetQuoteInSerializer(serializers.Serializer):
    order_amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"))
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class OffsetInSerializer(OffsetQuoteInSerializer):
    order_ref = serializers.CharField(max_length=64)
    points = serializers.IntegerField(min_value=1, max_value=2_000_000_000)


class OffsetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_ref = serializers.CharField()
    order_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    points = serializers.IntegerField()
    yuan = serializers.DecimalField(max_digits=14, decimal_places=2)
    status = serializers.CharField()
    applied_at = serializers.DateTimeField()


class DrawInSerializer(serializers.Serializer):
    lottery = serializers.CharField(max_length=50)


class DrawSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lottery = serializers.CharField(source="lottery.code")
    status = serializers.CharField()
    cost = serializers.IntegerField()
    prize = serializers.CharField(source="prize.name", allow_null=True, default=None)
    prize_points = serializers.IntegerField(source="prize.points", allow_null=True, default=None)
    drawn_at = serializers.DateTimeField()


class ClaimInSerializer(serializers.Serializer):
    benefit = serializers.CharField(max_length=50)


class SubscriptionStartInSerializer(serializers.Serializer):
    plan = serializers.CharField(max_length=50)
    trial = serializers.BooleanField(default=False)
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0"), required=False, help_text=_("What the member paid, in yuan."))


class RenewInSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0"), required=False)


class InvitationInSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=16)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    inviter = serializers.CharField(source="inviter.member_id")
    invitee = serializers.CharField(source="invitee.member_id")
    accepted_at = serializers.DateTimeField()
    rewarded = serializers.BooleanField()
    note = serializers.CharField()


def ensure(serializer_class, data) -> dict:
    """``data`` checked by ``serializer_class``: its validated data, or the serializer's errors raised."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
