"""A campaign's lifecycle: draft → submitted → approved (by someone else) → scheduled/live → ended.

Only an approved campaign gives: its approval writes the earning rule the bookings apply, valid
over its window; ending it early closes the rule's window at that moment (orders paid before
still earn, whenever they are booked). Every step is recorded with its actor and note.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.roles import permission_require
from membership.models import EarningRule

from common.queueing import task_send_on_commit

from .forecast import campaign_forecast
from .models import STACK_GROUP, Campaign, CampaignTransition

EDITABLE = (Campaign.Status.DRAFT, Campaign.Status.REJECTED)


def _move(campaign: Campaign, to: str, actor, note: str = "") -> Campaign:
    CampaignTransition.objects.create(campaign=campaign, from_status=campaign.status, to_status=to, actor=actor, at=timezone.now(), note=note)
    campaign.status = to
    campaign.save(update_fields=["status", "updated_at"])
    return campaign


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("program").get(pk=campaign.pk)


@transaction.atomic
def campaign_save(*, campaign: Campaign, actor) -> Campaign:
    """Save a new campaign as a draft made by ``actor``, or the changes to a draft or a rejected
    one; a submitted, approved or ended campaign cannot change."""
    if campaign.pk is None:
        permission_require(actor, "campaigns.add_campaign", _("make campaigns"))
        campaign.created_by = actor
        campaign.status = Campaign.Status.DRAFT
        campaign.full_clean()
        campaign.save()
        CampaignTransition.objects.create(campaign=campaign, from_status="", to_status=Campaign.Status.DRAFT, actor=actor, at=timezone.now())
        return campaign
    permission_require(actor, "campaigns.change_campaign", _("change campaigns"))
    status = Campaign.objects.select_for_update().values_list("status", flat=True).get(pk=campaign.pk)
    if status not in EDITABLE:
        raise ValidationError(_("Campaign %(code)s is %(status)s and can no longer change.") % {"code": campaign.code, "status": Campaign.Status(status).label})
    campaign.full_clean()
    campaign.save()
    return campaign


@transaction.atomic
def campaign_submit(*, campaign: Campaign, actor, note: str = "") -> Campaign:
    """Ask for approval of a draft (or of a rejected campaign, changed since)."""
    permission_require(actor, "campaigns.change_campaign", _("submit campaigns"))
    campaign = _locked(campaign)
    if campaign.status not in EDITABLE:
        raise ValidationError(_("Campaign %(code)s is %(status)s: only a draft or a rejected campaign can be submitted.") % {"code": campaign.code, "status": campaign.get_status_display()})
    campaign.full_clean()
    return _move(campaign, Campaign.Status.SUBMITTED, actor, note)


def _decider_check(campaign: Campaign, actor) -> None:
    permission_require(actor, "campaigns.approve_campaign", _("approve or reject campaigns"))
    if campaign.status != Campaign.Status.SUBMITTED:
        raise ValidationError(_("Campaign %(code)s is %(status)s: only a submitted campaign can be approved or rejected.") % {"code": campaign.code, "status": campaign.get_status_display()})
    submitters = set(campaign.transitions.filter(to_status=Campaign.Status.SUBMITTED).values_list("actor_id", flat=True))
    if actor is not None and (actor.pk == campaign.created_by_id or actor.pk in submitters):
        raise PermissionDenied(_("%(user)s made or submitted campaign %(code)s: another staff member must decide it.") % {"user": actor.get_username(), "code": campaign.code})


@transaction.atomic
def campaign_approve(*, campaign: Campaign, actor, note: str = "") -> Campaign:
    """Approve a submitted campaign: it gives over its window from now on (scheduled until it starts)."""
    campaign = _locked(campaign)
    _decider_check(campaign, actor)
    if campaign.ends_at <= timezone.now():
        raise ValidationError(_("Campaign %(code)s ended on %(at)s: change its window before approving it.") % {"code": campaign.code, "at": timezone.localtime(campaign.ends_at).strftime("%Y-%m-%d %H:%M")})
    rule = campaign.rule or EarningRule(program=campaign.program, code=campaign.rule_code)
    if rule.pk is None and EarningRule.objects.filter(program=campaign.program, code=campaign.rule_code).exists():
        raise ValidationError(_("The program already has an earning rule %(code)s: give the campaign another code.") % {"code": campaign.rule_code})
    for field, value in {
        "name": campaign.name[:100], "kind": campaign.kind, "currency": campaign.currency, "priority": campaign.priority, "params": campaign.params,
        "valid_from": campaign.starts_at, "valid_until": campaign.ends_at, "is_active": True,
        "stack_group": STACK_GROUP if campaign.exclusive else "", "limited": True,
    }.items():
        setattr(rule, field, value)
    if campaign.previous_id is not None:
        now = timezone.now()
        rule.valid_from = max(campaign.starts_at, now)
        previous = _locked(campaign.previous)
        if previous.status == Campaign.Status.APPROVED:
            _rule_close(previous, now)
            _move(previous, Campaign.Status.ENDED, actor, _("replaced by version %(version)s") % {"version": campaign.version})
    rule.full_clean()
    rule.save()
    campaign.rule = rule
    campaign.save(update_fields=["rule"])
    return _move(campaign, Campaign.Status.APPROVED, actor, note)


def _rule_close(campaign: Campaign, now) -> None:
    """Close the campaign's rule window at ``now`` (at once, before it opened)."""
    rule = EarningRule.objects.select_for_update().get(pk=campaign.rule_id)
    if rule.valid_until is None or rule.valid_until > now:
        rule.valid_until = max(now, campaign.starts_at)
        rule.save(update_fields=["valid_until"])


@transaction.atomic
def campaign_revise(*, campaign: Campaign, actor) -> Campaign:
    """A new version of an approved campaign, as a draft to change, submit and approve: approving
    it ends this one at that moment. It starts with the budget this one has left."""
    permission_require(actor, "campaigns.add_campaign", _("change campaigns"))
    campaign = _locked(campaign)
    if campaign.status != Campaign.Status.APPROVED:
        raise ValidationError(_("Campaign %(code)s is %(status)s: only an approved campaign gets a new version.") % {"code": campaign.code, "status": campaign.get_status_display()})
    if Campaign.objects.filter(previous=campaign).exists():
        raise ValidationError(_("Campaign %(code)s has a new version already: change that one.") % {"code": campaign.code})
    version = campaign.version + 1
    base = campaign.code.rsplit("-v", 1)[0] if campaign.version > 1 else campaign.code
    fields = {f: getattr(campaign, f) for f in ("program", "name", "description", "kind", "currency", "params", "priority", "exclusive", "starts_at", "ends_at", "member_limit")}
    budget = None if campaign.budget is None else max(0, campaign.budget - campaign.credited)
    draft = Campaign(code=f"{base}-v{version}"[:40], version=version, previous=campaign, budget=budget, **fields)
    return campaign_save(campaign=draft, actor=actor)


@transaction.atomic
def campaign_reject(*, campaign: Campaign, actor, note: str) -> Campaign:
    """Send a submitted campaign back to its maker, with a note saying why."""
    campaign = _locked(campaign)
    _decider_check(campaign, actor)
    if not note.strip():
        raise ValidationError(_("Say why the campaign is rejected: its maker reads the note."))
    return _move(campaign, Campaign.Status.REJECTED, actor, note.strip())


@transaction.atomic
def campaign_end(*, campaign: Campaign, actor, note: str) -> Campaign:
    """End an approved campaign now: orders and events from now on earn nothing from it (the
    planned window stays on the campaign; its rule's window closes now, or at once before it opened)."""
    permission_require(actor, "campaigns.change_campaign", _("end campaigns"))
    campaign = _locked(campaign)
    if campaign.status != Campaign.Status.APPROVED:
        raise ValidationError(_("Campaign %(code)s is %(status)s: only an approved campaign can be ended.") % {"code": campaign.code, "status": campaign.get_status_display()})
    if not note.strip():
        raise ValidationError(_("Say why the campaign ends early."))
    _rule_close(campaign, timezone.now())
    return _move(campaign, Campaign.Status.ENDED, actor, note.strip())


def _window(spec: dict, tz, today: date) -> tuple[datetime, datetime]:
    """A preset campaign's window: the next (or current) occurrence of its month-day window, or
    ``days`` from today's local midnight."""
    if "days" in spec:
        start = datetime.combine(today, time(), tzinfo=tz)
        return start, start + timedelta(days=spec["days"])
    (first_month, first_day), (last_month, last_day) = (map(int, part.split("-")) for part in spec["window"])
    for year in (today.year, today.year + 1):
        start = datetime(year, first_month, first_day, tzinfo=tz)
        end = datetime(year, last_month, last_day, tzinfo=tz) + timedelta(days=1)
        if end > datetime.combine(today, time(), tzinfo=tz):
            return start, end
    raise ValueError(f"window {spec['window']} never comes round")


@transaction.atomic
def campaign_presets_sync(*, program, specs: list[dict]) -> int:
    """Lay out a preset's campaigns as drafts (the preset loader of ``hooks.preset_section``);
    a campaign whose code the program has already is left alone. Returns how many were made."""
    tz = ZoneInfo(program.time_zone)
    today = timezone.now().astimezone(tz).date()
    made = 0
    for spec in specs:
        if Campaign.objects.filter(program=program, code=spec["code"]).exists():
            continue
        starts_at, ends_at = _window(spec, tz, today)
        fields = {k: v for k, v in spec.items() if k not in ("window", "days")}
        campaign_save(campaign=Campaign(program=program, starts_at=starts_at, ends_at=ends_at, **fields), actor=None)
        made += 1
    return made


FORECAST_MONTHS = (1, 3, 6, 12, 24)


@transaction.atomic
def campaign_forecast_ask(*, campaign: Campaign, months: int, actor) -> None:
    """Queue a forecast of the campaign over the last ``months`` months (a worker makes it: a year
    of a big platform's orders takes a while)."""
    permission_require(actor, "campaigns.view_campaign", _("forecast campaigns"))
    if months not in FORECAST_MONTHS:
        raise ValidationError(_("A forecast replays the last %(months)s months.") % {"months": ", ".join(map(str, FORECAST_MONTHS))})
    Campaign.objects.filter(pk=campaign.pk).update(forecast_asked_at=timezone.now())
    task_send_on_commit("campaigns.forecast", campaign.pk, months)


def campaign_forecast_make(*, campaign: Campaign, months: int) -> dict:
    """Make the campaign's forecast now and keep it on the campaign (the worker's part)."""
    forecast = campaign_forecast(campaign=campaign, months=months)
    Campaign.objects.filter(pk=campaign.pk).update(forecast=forecast)
    return forecast
