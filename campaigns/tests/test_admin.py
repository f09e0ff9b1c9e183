"""A campaign on the console: made on its page with the typed fields of its rule type, submitted,
counted in the approver's header, approved from its page, then read-only."""

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from membership.tests.factories import staff_signed_in

pytestmark = pytest.mark.django_db


def test_a_campaign_is_made_submitted_and_approved_by_two_people_on_its_page(program, django_user_model):
    maker, maker_client = staff_signed_in(django_user_model, "maker", "Program admin")
    _, approver_client = staff_signed_in(django_user_model, "approver", "Approver")
    add = reverse("admin:campaigns_campaign_add")
    page = maker_client.get(add).content.decode()
    assert 'name="order_amount__level_multipliers"' in page and 'name="params"' not in page
    starts, ends = timezone.localtime() + timezone.timedelta(days=1), timezone.localtime() + timezone.timedelta(days=10)
    data = {
        "program": program.pk, "code": "double11", "name": "Double 11", "kind": "order_amount", "currency": "points", "priority": 100,
        "starts_at_0": f"{starts:%Y-%m-%d}", "starts_at_1": "00:00:00", "ends_at_0": f"{ends:%Y-%m-%d}", "ends_at_1": "00:00:00",
        "budget": 100000, "order_amount__rate": "2", "order_amount__level_multipliers": "V9=2",
    }
    refused = maker_client.post(add, data)
    assert refused.status_code == 200 and "the program has no level V9" in refused.content.decode()
    data["order_amount__level_multipliers"] = "V4=2"
    assert maker_client.post(add, data).status_code == 302
    campaign = Campaign.objects.get(code="double11")
    assert (campaign.created_by, campaign.status, campaign.params) == (maker, "draft", {"rate": 2, "level_multipliers": {"V4": 2}})

    transition = reverse("admin:campaigns_campaign_transition", args=[campaign.pk])
    maker_client.post(transition, {"submit": "1"})
    assert Campaign.objects.get(pk=campaign.pk).status == "submitted"
    home = approver_client.get(reverse("admin:index")).content.decode()
    assert "?phase=submitted" in home
    page = approver_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'name="approve"' in page
    assert 'name="approve"' not in maker_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    approver_client.post(transition, {"approve": "1", "note": "ok"})
    campaign.refresh_from_db()
    assert campaign.status == "approved" and campaign.rule.code == "campaign-double11"
    page = maker_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'name="end"' in page and 'name="order_amount__rate"' not in page  # read-only now
    listing = maker_client.get(reverse("admin:campaigns_campaign_changelist") + "?phase=scheduled").content.decode()
    assert "double11" in listing
    value = campaign.cash_value(100000)
    assert value == 100000 / program.points_per_yuan and f"100,000 ({value:,} yuan)" in listing  # the budget and what it is worth
    assert f"{value:,} yuan" in page


@pytest.fixture
def eager_celery():
    from config.celery_app import app as celery_app

    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_the_forecast_is_asked_on_the_page_made_by_a_worker_and_shown_beside_what_the_campaign_did(program, django_user_model, eager_celery, django_capture_on_commit_callbacks):
    from membership.services import order_book
    from membership.tests.factories import MemberFactory, local, order

    m = MemberFactory()
    order_book(facts=order("H1", m, timezone.now() - timezone.timedelta(days=20), goods="300"))
    maker, client = staff_signed_in(django_user_model, "maker", "Program admin")
    campaign = Campaign.objects.create(
        program=program, code="c", name="c", params={"rate": 2}, starts_at=local(2027, 1, 1), ends_at=local(2027, 2, 1), budget=500, created_by=maker,
    )
    page = reverse("admin:campaigns_campaign_forecast", args=[campaign.pk])
    assert "What it actually did" in client.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(page, {"months": "3"}).status_code == 302
    shown = client.get(page).content.decode()
    assert "600" in shown and "the budget runs out on" in shown
    campaign.refresh_from_db()
    assert (campaign.forecast["wanted"], campaign.forecast["points"], campaign.forecast["members"]) == (600, 500, 1)
    refused = client.post(page, {"months": "7"}, follow=True).content.decode()
    assert "A forecast replays the last 1, 3, 6, 12, 24 months." in refused


def test_a_behaviour_campaigns_forecast_counts_events_on_its_page(program, django_user_model, eager_celery, django_capture_on_commit_callbacks):
    from membership.services import event_record
    from membership.tests.factories import MemberFactory, local

    m = MemberFactory()
    event_record(member_id=m.member_id, event_type="check_in", occurred_at=timezone.now() - timezone.timedelta(days=5), event_id="E1")
    maker, client = staff_signed_in(django_user_model, "maker", "Program admin")
    campaign = Campaign.objects.create(
        program=program, code="e", name="e", kind="event_fixed", params={"event_type": "check_in", "amount": 30},
        starts_at=local(2027, 1, 1), ends_at=local(2027, 2, 1), created_by=maker,
    )
    page = reverse("admin:campaigns_campaign_forecast", args=[campaign.pk])
    assert "Replay the last months of events" in client.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(page, {"months": "1"}).status_code == 302
    shown = client.get(page).content.decode()
    assert "events paid" in shown and "30" in shown
