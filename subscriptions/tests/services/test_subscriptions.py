"""Subscriptions: one trial ever, one live subscription, terms booked once per reference, points extend."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from membership.models import Source
from membership.tests.factories import MemberFactory, local
from points.selectors import points_balance_get, points_reconcile
from points.services import points_credit
from subscriptions.models import Subscription
from subscriptions.services import (
    plan_catalog_sync,
    subscription_cancel,
    subscription_extend_with_points,
    subscription_renew,
    subscription_start,
    subscriptions_daily_run,
)

pytestmark = pytest.mark.django_db


def test_a_trial_lasts_its_days_and_a_member_gets_one_trial_ever(plans):
    m = MemberFactory()
    trial = subscription_start(member=m, plan=plans["edu-month"], reference="t1", trial=True, at=local(2026, 3, 10, 9))
    assert subscription_start(member=m, plan=plans["edu-month"], reference="t1", trial=True, at=local(2026, 3, 10, 9)) == trial
    assert (trial.status, trial.starts_on, trial.ends_on) == ("trial", date(2026, 3, 10), date(2026, 3, 16))
    subscription_cancel(subscription=trial, reason="no longer wanted", at=local(2026, 3, 11))
    with pytest.raises(ValidationError, match="already had a free trial"):
        subscription_start(member=m, plan=plans["plus-year"], reference="t2", trial=True, at=local(2026, 5, 1))


def test_buying_during_a_trial_ends_the_trial_and_starts_the_term(plans):
    m = MemberFactory()
    trial = subscription_start(member=m, plan=plans["plus-year"], reference="t", trial=True, at=local(2026, 3, 1))
    paid = subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 3, 5))
    trial.refresh_from_db()
    assert (trial.status, trial.ends_on) == ("expired", date(2026, 3, 4))
    assert (paid.status, paid.starts_on, paid.ends_on) == ("active", date(2026, 3, 5), date(2027, 3, 4))
    assert paid.terms.get().amount == plans["plus-year"].price


def test_one_live_subscription_at_a_time(plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="p1", at=local(2026, 3, 5))
    with pytest.raises(ValidationError, match="already a paid member"):
        subscription_start(member=m, plan=plans["edu-month"], reference="p2", at=local(2026, 4, 5))


def test_a_renewal_adds_a_term_after_the_end_once_per_reference(plans):
    m = MemberFactory()
    s = subscription_start(member=m, plan=plans["edu-month"], reference="p1", at=local(2026, 1, 31))
    assert s.ends_on == date(2026, 2, 27)
    subscription_renew(subscription=s, reference="r1", at=local(2026, 2, 20))
    s = subscription_renew(subscription=s, reference="r1", at=local(2026, 2, 20))
    assert (s.ends_on, s.renewals, s.terms.count()) == (date(2026, 3, 27), 1, 2)
    subscriptions_daily_run(at=local(2026, 4, 2))
    s.refresh_from_db()
    assert s.status == "expired"
    s = subscription_renew(subscription=s, reference="r2", at=local(2026, 4, 10))
    assert (s.status, s.starts_on, s.ends_on) == ("active", date(2026, 1, 31), date(2026, 5, 9))


def test_points_extend_a_subscription_spending_the_oldest_points(program, plans):
    m = MemberFactory()
    points_credit(program=program, member=m, amount=5000, effective_at=local(2026, 1, 1), source=Source.ORDER, idempotency_key="k")
    s = subscription_start(member=m, plan=plans["edu-month"], reference="p1", at=local(2026, 3, 1))
    s = subscription_extend_with_points(subscription=s, reference="x1", at=local(2026, 3, 20))
    s = subscription_extend_with_points(subscription=s, reference="x1", at=local(2026, 3, 20))
    assert s.ends_on == date(2026, 4, 30) and points_balance_get(member=m) == 2000
    term = s.terms.get(kind="points")
    assert (term.points_entry.source, term.points_entry.amount) == ("subscription", -3000)
    with pytest.raises(ValidationError, match="2000 points available"):
        subscription_extend_with_points(subscription=s, reference="x2", at=local(2026, 3, 21))
    with pytest.raises(ValidationError, match="cannot be paid with points"):
        subscription_extend_with_points(
            subscription=subscription_start(member=MemberFactory(), plan=plans["plus-year"], reference="p9"), reference="x3"
        )
    assert points_reconcile() == []


def test_a_cancelled_subscription_ends_today_and_is_not_renewed(plans):
    s = subscription_start(member=MemberFactory(), plan=plans["plus-year"], reference="p1", at=local(2026, 3, 1))
    s = subscription_cancel(subscription=s, reason="asked by phone", at=local(2026, 6, 1))
    assert subscription_cancel(subscription=s, reason="again", at=local(2026, 7, 1)).cancelled_at == local(2026, 6, 1)
    assert (s.status, s.ends_on) == ("cancelled", date(2026, 6, 1))
    with pytest.raises(ValidationError, match="cannot be renewed"):
        subscription_renew(subscription=s, reference="r1")


def test_loading_the_plans_twice_changes_nothing(program, plans):
    from subscriptions.presets import SUBSCRIPTION_PRESETS

    assert plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["jd-plus"]) == 0
    plus = plans["plus-year"]
    assert (plus.term_months, plus.yearly_cashback_cap, plus.term_cashback_cap) == (12, 50000, 50000)
    assert plans["edu-month"].trial_days == 7


def test_staff_need_the_permission(plans, django_user_model):
    from django.core.exceptions import PermissionDenied

    viewer = django_user_model.objects.create_user("v", is_staff=True)
    with pytest.raises(PermissionDenied):
        subscription_start(member=MemberFactory(), plan=plans["plus-year"], reference="p", actor=viewer)
    assert not Subscription.objects.exists()
