"""The JSON Schema of each event type, served at /event-types, is the one the OpenAPI schema and
every event the product writes follow (the check of every test's events is in the root conftest)."""

from datetime import date

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from api.event_schemas import event_json_schema
from membership.services import growth_adjust, settlement_run_execute
from membership.services.outbox import EVENT_TYPES
from membership.tests.factories import MemberFactory, local

pytestmark = pytest.mark.django_db

LEVEL_CHANGED = {
    "id": 1, "type": "member.level_changed", "member_id": "M1", "occurred_at": "2026-11-01T02:00:00+08:00",
    "data": {"from": "V0", "to": "V1", "valid_until": None, "month": "2026-10", "reason": "upgrade"},
}


def errors(event_type, event):
    return [error.message for error in Draft202012Validator(event_json_schema(event_type), format_checker=FormatChecker()).iter_errors(event)]


def test_every_type_is_served_with_its_schema_and_a_real_event_follows_it(api, admin_user):
    body = api.call("GET", "event-types").json()
    assert [t["type"] for t in body["types"]] == list(EVENT_TYPES)
    assert all(t["version"] == 1 and t["schema"]["properties"]["type"] == {"const": t["type"]} for t in body["types"])
    member = MemberFactory()
    growth_adjust(member=member, amount=1500, reason="migration", actor=admin_user, effective_at=local(2025, 5, 1))
    settlement_run_execute(month=date(2025, 5, 1))
    schemas = {t["type"]: t["schema"] for t in body["types"]}
    for event in api.call("GET", "events").json()["events"]:
        assert list(Draft202012Validator(schemas[event["type"]], format_checker=FormatChecker()).iter_errors(event)) == []


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e["data"].pop("reason"), "'reason' is a required property"),
        (lambda e: e["data"].update(extra=1), "Additional properties are not allowed ('extra' was unexpected)"),
        (lambda e: e["data"].update(month="2026-1"), "'2026-1' does not match '^\\\\d{4}-\\\\d{2}$'"),
        (lambda e: e["data"].update(valid_until="soon"), "'soon' is not a 'date'"),
        (lambda e: e["data"].update(reason="promoted"), "'promoted' is not one of ['upgrade', 'renewal', 'downgrade', 'switch']"),
        (lambda e: e.update(occurred_at="yesterday"), "'yesterday' is not a 'date-time'"),
        (lambda e: e.update(type="member.level_at_risk"), "'member.level_changed' was expected"),
    ],
)
def test_an_event_not_as_its_schema_says_is_told_apart(change, message):
    event = {**LEVEL_CHANGED, "data": dict(LEVEL_CHANGED["data"])}
    assert errors("member.level_changed", event) == []
    change(event)
    assert errors("member.level_changed", event) == [message]
