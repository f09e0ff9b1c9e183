"""Webhook deliveries to a real HTTP receiver on the loopback address: signed, retried while the
receiver is down, in order per member, at least once when a worker dies mid-delivery."""

import hashlib
import hmac
import json
import socket
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from membership.models import OutboxEvent
from membership.services import growth_adjust, settlement_run_execute
from membership.services import settlement as settlement_services
from membership.services.outbox import LEVEL_CHANGED, outbox_publish
from membership.tests.factories import MemberFactory, local
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookSubscription
from webhooks.services import deliveries_run, webhook_create

pytestmark = pytest.mark.django_db(transaction=True)  # deliveries read what other transactions committed

SECRET = "a-secret-of-the-platform-2026"


class Receiver:
    """An HTTP server on 127.0.0.1 recording what it is sent; ``failing`` answers 500 to that many requests."""

    def __init__(self, port: int | None = None):
        self.received: list[tuple[dict, bytes]] = []
        self.failing = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failing:
                    receiver.failing -= 1
                    self.send_response(500)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def later(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


def publish(member_ref: str, n: int):
    return outbox_publish(type=LEVEL_CHANGED, member_ref=member_ref, data={"from": "V0", "to": f"V{n}", "valid_until": None, "month": "2026-10", "reason": "upgrade"})


def test_the_command_subscribes_and_refuses_bad_input_in_a_sentence(program):
    out = StringIO()
    call_command("webhook_create", "crm", "https://crm.example.com/hooks", "--events", "*", "--secret", SECRET, stdout=out)
    assert "subscribed webhook crm to *" in out.getvalue()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not an http or https address"):
        call_command("webhook_create", "x", "ftp://x", "--events", "*", "--secret", SECRET, stdout=StringIO())
    with pytest.raises(CommandError, match="unknown event type points.gone"):
        call_command("webhook_create", "y", "https://y", "--events", "points.gone", "--secret", SECRET, stdout=StringIO())
    with pytest.raises(CommandError, match="at least 16 characters"):
        call_command("webhook_create", "z", "https://z", "--events", "*", "--secret", "short", stdout=StringIO())


def test_a_settlement_event_is_delivered_signed_and_the_signature_verifies(program, receiver, admin_user):
    webhook_create(name="crm", url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["member.level_changed"], secret=SECRET, actor=None)
    member = MemberFactory()
    growth_adjust(member=member, amount=6000, reason="migration", actor=admin_user, effective_at=local(2025, 4, 1))
    settlement_run_execute(month=date(2025, 4, 1))
    assert deliveries_run(seconds=10) == {"made": 1, "sent": 1, "retry": 0, "failed": 0}
    (headers, body), = receiver.received
    event = json.loads(body)
    assert (event["type"], event["member_id"], event["data"]["to"], event["data"]["month"]) == ("member.level_changed", member.member_id, "V2", "2025-04")
    assert headers["X-Event-Id"] == str(event["id"])
    t, v1 = (part.split("=", 1)[1] for part in headers["X-Signature"].split(","))
    assert hmac.compare_digest(v1, hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest())
    assert abs(int(t) - timezone.now().timestamp()) < 60
    assert deliveries_run(seconds=5)["sent"] == 0  # nothing twice


def test_a_receiver_down_for_a_while_gets_every_event_in_order_per_member(program):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webhook_create(name="crm", url=f"http://127.0.0.1:{port}/hook", event_types=[LEVEL_CHANGED], secret=SECRET, actor=None)
    for n in range(3):
        publish("A", n)
        publish("B", n)
    counts = deliveries_run(seconds=5)
    assert counts["made"] == 6 and counts["sent"] == 0 and counts["retry"] == 2  # one attempt per member, the rest wait behind it
    delivery = WebhookDelivery.objects.order_by("pk").first()
    assert delivery.attempts == 1 and delivery.last_status_code is None and delivery.next_attempt_at > timezone.now()
    receiver = Receiver(port)  # back up
    try:
        receiver.failing = 1  # and one more failure on the way
        for minutes in (1, 3, 10, 30):
            deliveries_run(seconds=5, now=later(minutes))
        by_member = {}
        for event in receiver.events():
            by_member.setdefault(event["member_id"], []).append(event["data"]["to"])
        assert by_member == {"A": ["V0", "V1", "V2"], "B": ["V0", "V1", "V2"]}
        assert WebhookDelivery.objects.filter(status="sent").count() == 6
    finally:
        receiver.stop()


def test_deliveries_go_in_batches_from_several_threads_and_each_members_stay_in_order(program, receiver, settings):
    settings.WEBHOOK_BATCH_SIZE, settings.WEBHOOK_SENDERS = 3, 2
    webhook_create(name="crm", url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["*"], secret=SECRET, actor=None)
    for n in range(4):
        for member in "ABCDE":
            publish(member, n)
    batches = []
    services.deliveries_dispatch()
    while batch := services.deliveries_send():
        assert len({d.member_ref for d in batch}) == len(batch) <= 3  # one a member at a time
        batches.append(batch)
    assert sum(map(len, batches)) == 20 and WebhookDelivery.objects.filter(status="sent").count() == 20
    by_member = {}
    for event in receiver.events():
        by_member.setdefault(event["member_id"], []).append(event["data"]["to"])
    assert by_member == {member: ["V0", "V1", "V2", "V3"] for member in "ABCDE"}


def test_a_batch_is_leased_for_as_long_as_its_sending_may_take(program, settings):
    settings.WEBHOOK_BATCH_SIZE, settings.WEBHOOK_SENDERS, settings.WEBHOOK_TIMEOUT_SECONDS = 10, 4, 10
    webhook_create(name="crm", url="http://127.0.0.1:9/hook", event_types=["*"], secret=SECRET, actor=None)
    for member in "ABCDEFGHIJ":
        publish(member, 1)
    services.deliveries_dispatch()
    before = timezone.now()
    batch = services._lease(before, None, 10)
    assert len(batch) == 10
    leases = set(WebhookDelivery.objects.values_list("leased_until", flat=True))
    (until,) = leases
    assert timedelta(seconds=35) <= until - before < timedelta(seconds=36)  # three rounds of 4 threads, 10 s each, and 5
    assert services._lease(before, None, 10) == []  # leased: not taken twice


def test_a_worker_killed_mid_delivery_loses_nothing(program, receiver, monkeypatch):
    webhook_create(name="crm", url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["*"], secret=SECRET, actor=None)
    publish("A", 1)
    real = services._post

    def dies_after_sending(subscription, event):
        real(subscription, event)
        raise SystemExit("worker killed")

    monkeypatch.setattr(services, "_post", dies_after_sending)
    with pytest.raises(SystemExit):
        deliveries_run(seconds=5)
    monkeypatch.setattr(services, "_post", real)
    assert deliveries_run(seconds=5)["sent"] == 0  # leased: not sent twice at once
    deliveries_run(seconds=5, now=later(2))  # the lease ran out
    assert [e["data"]["to"] for e in receiver.events()] == ["V1", "V1"]  # at least once: the receiver drops the repeat by X-Event-Id
    assert len({headers["X-Event-Id"] for headers, _ in receiver.received}) == 1
    assert WebhookDelivery.objects.get().status == "sent"


def test_a_delivery_failing_for_a_day_is_given_up_and_the_subscription_paused(program, receiver, settings):
    subscription = webhook_create(name="crm", url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["*"], secret=SECRET, actor=None)
    publish("A", 1)
    receiver.failing = 10**6
    deliveries_run(seconds=5)
    deliveries_run(seconds=5, now=later(25 * 60))
    subscription.refresh_from_db()
    assert WebhookDelivery.objects.get().status == "failed" and subscription.paused_at and "failed for 24 hours" in subscription.pause_reason
    publish("A", 2)
    assert deliveries_run(seconds=5, now=later(26 * 60))["sent"] == 0  # paused: kept, not sent
    receiver.failing = 0
    services.webhook_resume(subscription=subscription, actor=None)
    services.deliveries_replay(deliveries=WebhookDelivery.objects.filter(status="failed"), actor=None)
    deliveries_run(seconds=5, now=later(27 * 60))
    assert [e["data"]["to"] for e in receiver.events()] == ["V1", "V2"]


def test_a_settlement_killed_midway_and_run_again_writes_no_event_twice(program, admin_user, monkeypatch):
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        growth_adjust(member=member, amount=1200, reason="migration", actor=admin_user, effective_at=local(2025, 6, 1))
    real, calls = settlement_services.settlement_chunk_execute, []

    def killed_at_the_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(settlement_services, "settlement_chunk_execute", killed_at_the_second_chunk)
    with pytest.raises(RuntimeError):
        settlement_run_execute(month=date(2025, 6, 1), chunk_size=2)
    monkeypatch.setattr(settlement_services, "settlement_chunk_execute", real)
    settlement_run_execute(month=date(2025, 6, 1), chunk_size=2)
    told = list(OutboxEvent.objects.values_list("type", "member_ref"))
    assert sorted(told) == sorted((t, m.member_id) for m in members for t in ("benefit.granted", "member.level_changed"))


def test_the_schedule_is_made_when_a_program_is_active(program):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Webhook deliveries")
    assert task.task == "webhooks.deliver" and task.interval.every == 5 and task.interval.period == "seconds"
    assert WebhookSubscription.objects.count() == 0


def test_a_new_subscription_receives_the_events_committed_from_then_on(program, receiver):
    publish("A", 1)
    webhook_create(name="crm", url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["*"], secret=SECRET, actor=None)
    publish("A", 2)
    deliveries_run(seconds=5)
    assert [e["data"]["to"] for e in receiver.events()] == ["V2"]


def test_the_member_page_shows_the_members_events_and_their_deliveries(program, receiver, admin_client):
    from django.urls import reverse

    member = MemberFactory(member_id="A")
    webhook_create(name="crm", url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["*"], secret=SECRET, actor=None)
    publish("A", 3)
    deliveries_run(seconds=5)
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    assert "Events told to the platform" in page and "member.level_changed" in page and "crm: sent (204)" in page
