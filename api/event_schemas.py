"""The outbound events as the platform receives them, version 1: a serializer for each type's
``data``, from which both the OpenAPI schema (the feed's events, a webhook's body) and the JSON
Schema of each type (``GET /api/v1/event-types``) are made, so the two cannot differ. A test holds
every event the product writes to its type's JSON Schema.

A later version adds fields, never renames or removes one: a receiver ignores what it does not know.
"""

from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from membership.models import LevelChange
from membership.services.outbox import EVENT_TYPES

VERSION = 1
MONTH = r"^\d{4}-\d{2}$"


def _code(help_text):
    return serializers.CharField(help_text=help_text)


def _points(help_text=_("Points.")):
    return serializers.IntegerField(help_text=help_text)


_redemption = {
    "redemption": serializers.IntegerField(help_text=_("The redemption's id (as in the API's redemptions).")),
    "item": _code(_("The mall item's code.")),
    "quantity": serializers.IntegerField(),
    "points": _points(_("Points the redemption took.")),
}
_subscription = {
    "subscription": serializers.IntegerField(help_text=_("The subscription's id.")),
    "plan": _code(_("The plan's code.")),
    "trial": serializers.BooleanField(),
    "starts_on": serializers.DateField(),
    "ends_on": serializers.DateField(),
}
_trial = {
    "subscription": serializers.IntegerField(help_text=_("The trial subscription's id.")),
    "plan": _code(_("The plan's code.")),
    "points": _points(_("The cashback's points.")),
}

DATA_FIELDS: dict[str, dict[str, serializers.Field]] = {
    "member.level_changed": {
        "from": _code(_("The level's code before.")),
        "to": _code(_("The level's code after.")),
        "valid_until": serializers.DateField(allow_null=True, help_text=_("The last day of the new level; null: no end.")),
        "month": serializers.RegexField(MONTH, help_text=_("The settled month, YYYY-MM.")),
        "reason": serializers.ChoiceField(
            LevelChange.Reason.values,
            help_text=_("upgrade; renewal: the same rank kept, onto the active program's level of it; downgrade; switch: the same rank under a newly active program."),
        ),
    },
    "member.level_at_risk": {
        "level": _code(_("The member's level now.")),
        "drops_to": _code(_("The level the next settlement would give.")),
        "growth_needed": serializers.IntegerField(help_text=_("Growth still needed in the window to keep the level.")),
        "month": serializers.RegexField(MONTH, help_text=_("The month that settlement settles, YYYY-MM.")),
        "settles_at": serializers.DateTimeField(help_text=_("When it runs.")),
    },
    "points.expiring": {
        "amount": _points(_("Points that end then.")),
        "expires_at": serializers.DateTimeField(help_text=_("When they end (in the program's time zone).")),
    },
    "points.expired": {
        "amount": _points(_("Points the settlement expired.")),
        "month": serializers.RegexField(MONTH, help_text=_("The settled month, YYYY-MM.")),
    },
    "benefit.granted": {
        "benefit": _code(_("The benefit's code.")),
        "name": serializers.CharField(),
        "period": serializers.CharField(help_text=_("YYYY-MM, YYYY, once, upgrade:LEVEL:DATE or the caller's period.")),
        "quantity": serializers.IntegerField(),
        "valid_until": serializers.DateTimeField(allow_null=True, help_text=_("Until when it can be used; null: no end.")),
        "points": _points(_("Points credited with it.")),
    },
    "redemption.created": _redemption,
    "redemption.cancelled": {**_redemption, "reason": serializers.CharField()},
    "subscription.started": _subscription,
    "subscription.renewed": {**_subscription, "paid_with": serializers.ChoiceField(["money", "points"])},
    "subscription.ended": {**_subscription, "reason": serializers.CharField(help_text=_("Why it was cancelled, or expired."))},
    "adjustment.approved": {
        "adjustment": serializers.IntegerField(help_text=_("The manual adjustment's id.")),
        "currency": serializers.ChoiceField(["growth", "points"]),
        "amount": serializers.IntegerField(help_text=_("Negative when taken away.")),
        "reason_code": serializers.CharField(),
        "approved_by": serializers.CharField(help_text=_("The approver's user name.")),
    },
    "invitation.rewarded": {
        "invitation": serializers.IntegerField(),
        "inviter": _code(_("The inviter's member id.")),
        "invitee": _code(_("The new member's member id.")),
    },
    "trial.cashback_released": _trial,
    "trial.cashback_cleared": _trial,
    "alert.raised": {
        "alert": serializers.IntegerField(),
        "rule": _code(_("The anomaly rule's code.")),
        "severity": serializers.ChoiceField(["low", "medium", "high"]),
        "incident": serializers.CharField(),
    },
}
assert set(DATA_FIELDS) == set(EVENT_TYPES), "every event type has its data described"


def _name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split("."))


def _event_serializer(event_type: str) -> type[serializers.Serializer]:
    data = type(f"{_name(event_type)}Data", (serializers.Serializer,), dict(DATA_FIELDS[event_type]))
    return type(
        f"{_name(event_type)}Event",
        (serializers.Serializer,),
        {
            "id": serializers.IntegerField(help_text=_("Stable: the same event always has the same id (X-Event-Id of a webhook).")),
            "type": serializers.ChoiceField([event_type]),
            "member_id": serializers.CharField(help_text=_("The member's id on the platform.")),
            "occurred_at": serializers.DateTimeField(),
            "data": data(),
        },
    )


EVENT_SERIALIZERS = {event_type: _event_serializer(event_type) for event_type in EVENT_TYPES}


def events_schema_field(**kwargs) -> PolymorphicProxySerializer:
    """The events of the feed, each described by its type, for the OpenAPI schema."""
    return PolymorphicProxySerializer(component_name="Event", serializers=EVENT_SERIALIZERS, resource_type_field_name="type", **kwargs)


# ---------------------------------------------------------------- JSON Schema


def _json_schema(field: serializers.Field) -> dict:
    if isinstance(field, serializers.Serializer):
        fields = field.fields
        return {
            "type": "object",
            "properties": {name: _json_schema(f) for name, f in fields.items()},
            "required": list(fields),
            "additionalProperties": False,
        }
    if isinstance(field, serializers.ChoiceField):
        schema = {"type": "string", "enum": list(field.choices)} if len(field.choices) > 1 else {"const": next(iter(field.choices))}
    elif isinstance(field, serializers.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, serializers.IntegerField):
        schema = {"type": "integer"}
    elif isinstance(field, serializers.DateTimeField):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(field, serializers.DateField):
        schema = {"type": "string", "format": "date"}
    elif isinstance(field, serializers.RegexField):
        schema = {"type": "string", "pattern": next(v.regex.pattern for v in field.validators if isinstance(v, RegexValidator))}
    elif isinstance(field, serializers.CharField):
        schema = {"type": "string"}
    else:
        raise TypeError(f"no JSON Schema for {type(field).__name__}")
    if field.allow_null:
        schema["type"] = [schema["type"], "null"]
    if field.help_text:
        schema["description"] = str(field.help_text)
    return schema


def event_json_schema(event_type: str) -> dict:
    """The JSON Schema (2020-12) of one type's events, as the feed gives them and a webhook posts them."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event_type,
        **_json_schema(EVENT_SERIALIZERS[event_type]()),
    }
