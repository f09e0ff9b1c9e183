"""The front page: a range of months, figures that link to the lists they count, "as of" with a
refresh, the liability trend, redemption and breakage rates, level movements per settlement."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from common.timeutil import add_months
from membership.selectors import dashboard_get, dashboard_range
from membership.services import order_book, settlement_run_execute
from membership.tests.factories import MemberFactory, order
from membership.totals import ledger_totals_refresh
from points.models import PointsEntry
from points.services import points_debit

pytestmark = pytest.mark.django_db


def data(page: str, name: str):
    return json.loads(re.search(rf'id="{name}" type="application/json">(.*?)</script>', page, re.S).group(1))


def month_start(months_ago: int):
    return add_months(timezone.localdate().replace(day=1), -months_ago)


def at(months_ago: int, day: int = 10):
    first = month_start(months_ago)
    return timezone.make_aware(timezone.datetime(first.year, first.month, day, 12))


@pytest.fixture
def history(program):
    member = MemberFactory()
    order_book(facts=order("H1", member, at(3), goods="1000"))
    order_book(facts=order("H2", member, at(2), goods="500"))
    points_debit(member=member, amount=300, kind=PointsEntry.Kind.SPEND, effective_at=at(1), source="redemption", source_ref="R1", idempotency_key="spend-1")
    return member


def test_the_liability_trend_and_the_rates_follow_the_ledger(history):
    board = dashboard_get()
    assert board["months"][-1] == f"{timezone.localdate():%Y-%m}" and len(board["months"]) == 12
    # Outstanding at each month's end: 1,000 after the first order, 1,500 after the second, 1,200 after the spend.
    assert board["liability"][-4:] == [1000, 1500, 1200, 1200]
    assert board["liability"][:-4] == [0] * 8
    assert board["redemption_rate"][-4:] == [0.0, 0.0, None, None]  # nothing issued in the last two months
    assert board["breakage_rate"][-4] == 0.0
    later = timezone.now() + timedelta(hours=1)
    ledger_totals_refresh(time_zone="Asia/Shanghai", now=later)
    assert dashboard_get()["liability"] == board["liability"]  # the same from the monthly totals


def test_a_range_of_months_and_its_refusals(admin_client, history, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0
    first, last = month_start(3), month_start(2)
    page = admin_client.get(reverse("admin:index"), {"since": f"{first:%Y-%m}", "until": f"{last:%Y-%m}"}).content.decode()
    assert data(page, "dashboard-months") == [f"{first:%Y-%m}", f"{last:%Y-%m}"]
    assert data(page, "dashboard-series")["points_issued"] == [1000, 500]
    assert data(page, "dashboard-liability") == [1000, 1500]
    page = admin_client.get(reverse("admin:index"), {"since": "2026-13"}).content.decode()
    assert "&#x27;2026-13&#x27; is not a month: write it as YYYY-MM" in page and len(data(page, "dashboard-months")) == 12
    with pytest.raises(Exception, match="at most 36 months"):
        dashboard_range(since="2020-01", until="2026-01")
    with pytest.raises(Exception, match="comes after the last"):
        dashboard_range(since="2026-05", until="2026-04")


def test_each_figure_links_to_the_list_it_counts(admin_client, history, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0
    settlement_run_execute(month=month_start(1))
    page = admin_client.get(reverse("admin:index")).content.decode()
    members = reverse("admin:membership_member_changelist")
    assert f'data-value="1"><a href="{members}">1</a>' in page
    links = re.findall(r'href="([^"]+)"', page)
    wanted = [f"{members}?lifecycle=new", f"{members}?lifecycle=lost", reverse("admin:points_pointsaccount_changelist")]
    level = next(link for link in links if "level__id__exact=" in link)
    run = next(link for link in links if "run__id__exact=" in link)
    for link in [*wanted, level, run]:
        assert link.replace("&amp;", "&") in [x.replace("&amp;", "&") for x in links]
        assert admin_client.get(link.replace("&amp;", "&")).status_code == 200, link
    changes = admin_client.get(run).context["cl"]
    assert changes.result_count == 1  # the run's level change
    bounds = data(page, "dashboard-month-bounds")
    month = admin_client.get(reverse("admin:points_pointsentry_changelist"), {"effective_at__gte": bounds[-4][0], "effective_at__lt": bounds[-4][1]})
    assert [e.source_ref for e in month.context["cl"].result_list] == ["H1"]  # a bar's month in the ledger
    movements = data(page, "dashboard-movements")
    assert movements[-1]["month"] == f"{month_start(1):%Y-%m}" and movements[-1]["up"] == 1


def test_cached_figures_say_when_and_refresh_on_demand(admin_client, history, settings):
    settings.DASHBOARD_CACHE_SECONDS = 300
    from django.core.cache import cache

    cache.clear()
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-as-of"' in page and "Figures as of" in page and 'id="dashboard-refresh"' in page
    assert 'id="dashboard-members" data-value="1"' in page
    MemberFactory()
    assert 'id="dashboard-members" data-value="1"' in admin_client.get(reverse("admin:index")).content.decode()  # cached
    page = admin_client.get(reverse("admin:index"), {"refresh": "1"}).content.decode()
    assert 'id="dashboard-members" data-value="2"' in page
