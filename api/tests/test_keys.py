"""Keys: made by the command and the console (shown once, a hash kept), revoked, scoped; what a
key's requests create names the key's user, in the rows and in the audit log."""

from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from api.models import ApiKey, key_digest
from api.tests.conftest import ApiClient
from membership.models import Member, Order

pytestmark = pytest.mark.django_db


def command(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_key_alone_on_its_last_line_and_keeps_only_its_hash(program):
    out = command("api_key_create", "order-service", "--scopes", "ingest,read")
    key = out.strip().splitlines()[-1]
    api_key = ApiKey.objects.get(name="order-service")
    assert key.startswith("mk_") and key not in str(list(ApiKey.objects.values()))
    assert api_key.digest == key_digest(key) and api_key.scopes == ["ingest", "read"] and key.startswith(f"mk_{api_key.prefix}")
    assert ApiClient(key).call("GET", "members/nobody").status_code == 404


@pytest.mark.parametrize("args, sentence", [
    (["--scopes", "ingest,write"], "unknown scope write; the scopes are ingest, read, spend"),
    (["--scopes", ""], "give at least one scope"),
])
def test_the_command_refuses_bad_scopes_in_a_sentence(program, args, sentence):
    with pytest.raises(CommandError, match=sentence):
        call_command("api_key_create", "x", *args, stdout=StringIO())


def test_a_second_key_of_the_same_name_is_refused(program):
    command("api_key_create", "shop", "--scopes", "read")
    with pytest.raises(CommandError, match="there is already a key named shop"):
        call_command("api_key_create", "shop", "--scopes", "read", stdout=StringIO())


def test_no_key_an_unknown_key_or_a_revoked_key_is_401_and_a_missing_scope_403(program, make_key):
    _, key = make_key(scopes=("read",), name="reader")
    assert ApiClient().call("GET", "members/M1").status_code == 401
    response = ApiClient("mk_unknown_key_abcdefghijklmnop").call("GET", "members/M1")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    response = ApiClient(key).call("PUT", "members/M1", {"name": "x"})
    assert response.status_code == 403 and "scope ingest" in response.json()["detail"]
    assert "revoked API key reader" in command("api_key_revoke", "reader", "--reason", "leaked")
    assert ApiClient(key).call("GET", "members/M1").status_code == 401
    assert "already revoked" in command("api_key_revoke", "reader")
    with pytest.raises(CommandError, match="there is no API key named nobody"):
        call_command("api_key_revoke", "nobody", stdout=StringIO())


def test_what_a_key_creates_names_its_user_in_the_rows_and_the_audit_log(api):
    assert api.call("PUT", "members/M1", {"name": "张三"}).status_code == 201
    assert api.call("PUT", "orders/O1", {"member_id": "M1", "paid_at": "2026-03-01 10:00", "status": "completed", "goods_amount": "10"}).status_code == 201
    user = api.api_key.user
    assert Order.objects.get(order_id="O1").created_by == user
    entry = LogEntry.objects.get_for_object(Member.objects.get(member_id="M1")).get()
    assert entry.actor == user and user.username == f"api:{api.api_key.name}" and not user.has_usable_password() and not user.is_staff


def test_a_program_admin_makes_a_key_in_the_console_sees_it_once_and_revokes_it(client, django_user_model, program):
    admin = django_user_model.objects.create_user("keys-admin", password="pw", is_staff=True)
    admin.groups.add(Group.objects.get(name="Program admin"))
    client.force_login(admin)
    response = client.post(reverse("admin:api_apikey_add"), {"name": "app-backend", "scopes": ["read", "spend"], "rate_per_minute": ""})
    assert response.status_code == 200
    key = response.context["key"]
    api_key = ApiKey.objects.get(name="app-backend")
    assert api_key.digest == key_digest(key) and api_key.created_by == admin and key in response.content.decode()
    listing = client.get(reverse("admin:api_apikey_changelist")).content.decode()
    assert "app-backend" in listing and key not in listing
    assert key not in client.get(reverse("admin:api_apikey_change", args=[api_key.pk])).content.decode()
    data = {"action": "revoke_keys", "_selected_action": [api_key.pk]}
    assert client.post(reverse("admin:api_apikey_changelist"), data).status_code == 200  # asks why
    client.post(reverse("admin:api_apikey_changelist"), {**data, "reason": "app retired", "apply": "1"})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by == admin and api_key.revoke_reason == "app retired"
    assert ApiClient(key).call("GET", "members/x").status_code == 401


def test_an_operator_may_not_make_keys(client, django_user_model, program):
    operator = django_user_model.objects.create_user("op", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    client.force_login(operator)
    assert client.get(reverse("admin:api_apikey_add")).status_code == 403
    assert client.get(reverse("admin:api_apikey_changelist")).status_code == 200  # read only, like every list
