"""Manual adjustments: operations staff add or deduct growth and points by hand, saying why.

An adjustment within the program's approval threshold books at once; a larger one waits for a
different staff member with the approval permission. Rejected and approved requests are kept.
"""

from dataclasses import dataclass
from datetime import timedelta, timezone as dt_timezone


from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Abs
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from common.csvio import FieldError, parse_day, parse_whole, parse_when, read_header, read_rows, row_error, write_rejected
from common.ledger import ENTRY_MAX
from common.roles import permission_require
from membership.models import Currency, Member, Source
from membership.selectors import program_active_get
from membership.services import growth_adjust, withheld_credit_book
from membership.services.members import unknown_member
from membership.services.privacy import ERASED, audit_trail_erase
from membership.services.outbox import event_new, events_write_once, outbox_publish
from points.models import PointsEntry
from points.services import points_credit, points_debit

from .anomalies import anomaly_strategy_for
from .models import Alert, AlertEvent, AnomalyRule, BlockedCredit, ListEntry, ManualAdjustment, Severity
from .selectors import members_blocked, members_whitelisted_ids


# Adjustments of a member booked without approval within this span count together against the threshold.
APPROVAL_WINDOW = timedelta(hours=24)


def _require(actor, permission: str, action: str):
    """Adjustments are always made by a person: the system (None) may not make them either."""
    if actor is None:
        raise PermissionDenied(_("nobody may %(action)s without saying who they are.") % {"action": action})
    permission_require(actor, permission, action)


# The ledger entry's reason is the reason code's name, ": ", then the explanation, in 255 characters.
REASON_MAX = 255 - max(len(f"{code.label}: ") for code in ManualAdjustment.ReasonCode) - 2


@transaction.atomic
def adjustment_request(
    *,
    member: Member,
    currency: str,
    amount: int,
    reason_code: str,
    reason: str,
    actor,
    reference: str = "",
    batch_key: str | None = None,
) -> ManualAdjustment:
    """Record an adjustment; book it at once if it is within the approval threshold."""
    _require(actor, "riskcontrol.add_manualadjustment", _("request manual adjustments"))
    adjustment = ManualAdjustment(
        batch_key=batch_key,
        member=member,
        currency=currency,
        amount=amount,
        reason_code=reason_code,
        reason=(reason or "").strip(),
        reference=(reference or "").strip(),
        requested_by=actor,
    )
    if amount == 0:
        raise ValidationError({"amount": _("the adjustment amount must not be 0")})
    if len(adjustment.reason) > REASON_MAX:
        raise ValidationError({"reason": _("the explanation is %(n)s characters long: at most %(max)s") % {"n": len(adjustment.reason), "max": REASON_MAX}})
    if len(adjustment.reference) > ManualAdjustment._meta.get_field("reference").max_length:
        raise ValidationError({"reference": _("the reference is longer than %(max)s characters") % {"max": ManualAdjustment._meta.get_field("reference").max_length}})
    largest = program_active_get().adjustment_max_amount
    if abs(amount) > largest:
        raise ValidationError({"amount": _(
            "an adjustment of %(amount)s is larger than the program allows (%(max)s); a Program admin sets the limit on the program"
        ) % {"amount": f"{amount:,}", "max": f"{largest:,}"}})
    adjustment.full_clean()
    # The member's adjustments of the last day that were booked without a second person count
    # together against the threshold, whoever asked for them: ten small ones are one large one.
    Member.objects.select_for_update().filter(pk=member.pk).first()
    since = timezone.now() - APPROVAL_WINDOW
    unapproved = (
        ManualAdjustment.objects.filter(member=member, currency=currency, status=ManualAdjustment.Status.BOOKED, decided_by=F("requested_by"), requested_at__gte=since)
        .aggregate(s=Sum(Abs("amount")))["s"]
        or 0
    )
    adjustment.save()
    if unapproved + abs(amount) <= program_active_get().adjustment_approval_threshold:
        _book(adjustment, decided_by=actor, note="within the approval threshold")
    return adjustment


@transaction.atomic
def adjustment_approve(*, adjustment: ManualAdjustment, actor, note: str = "") -> ManualAdjustment:
    """Approve a pending adjustment and book it. The approver must not be the requester."""
    _require(actor, "riskcontrol.approve_manualadjustment", _("approve manual adjustments"))
    adjustment = ManualAdjustment.objects.select_for_update().get(pk=adjustment.pk)
    if adjustment.status != ManualAdjustment.Status.PENDING:
        raise ValidationError(_("adjustment #%(pk)s is %(status)s, not waiting for approval") % {"pk": adjustment.pk, "status": adjustment.get_status_display().lower()})
    if adjustment.requested_by_id == actor.pk:
        raise PermissionDenied(_("an adjustment must be approved by a different staff member than the one who requested it"))
    _book(adjustment, decided_by=actor, note=note)
    outbox_publish(
        type="adjustment.approved", member_ref=adjustment.member.member_id, occurred_at=adjustment.decided_at,
        data={"adjustment": adjustment.pk, "currency": adjustment.currency, "amount": adjustment.amount,
              "reason_code": adjustment.reason_code, "approved_by": actor.get_username()},
    )
    return adjustment


@transaction.atomic
def adjustment_reject(*, adjustment: ManualAdjustment, actor, note: str) -> ManualAdjustment:
    _require(actor, "riskcontrol.approve_manualadjustment", _("reject manual adjustments"))
    adjustment = ManualAdjustment.objects.select_for_update().get(pk=adjustment.pk)
    if adjustment.status != ManualAdjustment.Status.PENDING:
        raise ValidationError(_("adjustment #%(pk)s is %(status)s, not waiting for approval") % {"pk": adjustment.pk, "status": adjustment.get_status_display().lower()})
    if not (note or "").strip():
        raise ValidationError({"decision_note": _("say why the adjustment is rejected")})
    adjustment.status = ManualAdjustment.Status.REJECTED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = actor, timezone.now(), note.strip()
    adjustment.save()
    return adjustment


def _book(adjustment: ManualAdjustment, *, decided_by, note: str):
    key = f"adjustment:{adjustment.pk}"
    reason = f"{adjustment.get_reason_code_display()}: {adjustment.reason}"[:255]
    now = timezone.now()
    if adjustment.currency == Currency.GROWTH:
        adjustment.growth_entry = growth_adjust(
            member=adjustment.member,
            amount=adjustment.amount,
            reason=reason,
            actor=adjustment.requested_by,
            reference=adjustment.reference,
            idempotency_key=key,
            effective_at=now,
        )
    elif adjustment.amount > 0:
        adjustment.points_entry = points_credit(
            program=program_active_get(),
            member=adjustment.member,
            amount=adjustment.amount,
            effective_at=now,
            source=Source.ADJUSTMENT,
            source_ref=adjustment.reference,
            idempotency_key=key,
            kind=PointsEntry.Kind.ADJUSTMENT,
            actor=adjustment.requested_by,
            reason=reason,
        )
    else:
        adjustment.points_entry = points_debit(
            member=adjustment.member,
            amount=-adjustment.amount,
            kind=PointsEntry.Kind.ADJUSTMENT,
            effective_at=now,
            source=Source.ADJUSTMENT,
            source_ref=adjustment.reference,
            idempotency_key=key,
            actor=adjustment.requested_by,
            reason=reason,
        )
    adjustment.status = ManualAdjustment.Status.BOOKED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = decided_by, now, note
    adjustment.save()


ADJUSTMENT_COLUMNS = ("member_id", "amount", "reason", "currency", "reason_code", "reference")


@dataclass
class AdjustmentBatchReport:
    counts: dict
    errors: list[str]
    rejected_path: object = None

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())


def adjustments_import(*, path: str, batch: str, actor, encoding: str = "utf-8", name: str = "", dry_run: bool = False) -> AdjustmentBatchReport:
    """Adjustments from a CSV file (``member_id,amount,reason`` and optionally ``currency`` (points
    by default), ``reason_code`` (other), ``reference``), each through ``adjustment_request``: within
    the threshold it books at once, above it waits for approval. Each row is keyed by the batch
    name and its row number, so importing the same batch twice requests nothing twice.
    """
    _require(actor, "riskcontrol.add_manualadjustment", _("request manual adjustments"))
    batch = (batch or "").strip()
    if not batch:
        raise ValidationError({"batch": _("name the batch (e.g. the file and the date), so it is imported once")})
    label = name or path
    counts = dict.fromkeys(("read", "booked", "pending", "unchanged", "rejected"), 0)
    errors, rejected = [], []
    members = {}
    for row in read_rows(path, required=("member_id", "amount", "reason"), known=ADJUSTMENT_COLUMNS, encoding=encoding):
        counts["read"] += 1
        key = f"{batch}:{row.number}"[:200]
        values = row.values
        try:
            if ManualAdjustment.objects.filter(batch_key=key).exists():
                counts["unchanged"] += 1
                continue
            member_id = values.get("member_id", "")
            member = members.get(member_id) or Member.objects.filter(member_id=member_id).first()
            if member is None:
                raise FieldError("member_id", unknown_member(member_id))
            members[member_id] = member
            amount = parse_whole(values.get("amount", ""), "amount", maximum=ENTRY_MAX, negative=True)
            if not amount:
                raise FieldError("amount", _("amount %(value)s is not a whole number other than 0") % {"value": repr(values.get("amount", ""))})
            currency = (values.get("currency") or Currency.POINTS).lower()
            if currency not in Currency.values:
                raise FieldError("currency", _("currency %(value)s is not one of %(known)s") % {"value": repr(currency), "known": ", ".join(Currency.values)})
            reason_code = values.get("reason_code") or ManualAdjustment.ReasonCode.OTHER
            if reason_code not in ManualAdjustment.ReasonCode.values:
                raise FieldError("reason_code", _("reason_code %(value)s is not one of %(known)s") % {
                    "value": repr(reason_code), "known": ", ".join(ManualAdjustment.ReasonCode.values),
                })
            if not values.get("reason"):
                raise FieldError("reason", _("reason is required: say why"))
            with transaction.atomic():
                adjustment = adjustment_request(
                    member=member, currency=currency, amount=amount, reason_code=reason_code, reason=values["reason"],
                    reference=values.get("reference", ""), actor=actor, batch_key=key,
                )
                if dry_run:
                    transaction.set_rollback(True)
            counts["booked" if adjustment.status == ManualAdjustment.Status.BOOKED else "pending"] += 1
        except FieldError as exc:
            error = row_error(label, row.number, exc.field, exc.message)
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items())) if hasattr(exc, "message_dict") else ("amount", exc.messages)
            field = "amount" if field == "__all__" else field
            error = row_error(label, row.number, field, messages[0])
        else:
            continue
        counts["rejected"] += 1
        errors.append(error)
        rejected.append((row.raw, error))
    report = AdjustmentBatchReport(counts=counts, errors=errors)
    if rejected and not dry_run:
        report.rejected_path = write_rejected(path, read_header(path, encoding), rejected, encoding)
    return report


def adjustments_import_job(*, path, name, encoding, actor, options, on_progress):
    """``adjustments_import`` run by an import job (``options``: the batch's name)."""
    return adjustments_import(path=path, name=name, encoding=encoding, actor=actor, batch=options.get("batch", ""))


@transaction.atomic
def list_entry_add(
    *, member: Member, kind: str, scope: str, reason: str, actor, starts_at=None, ends_at=None, review_on=None
) -> ListEntry:
    """Put a member on the black or white list for ``scope`` from ``starts_at`` (now)."""
    permission_require(actor, "riskcontrol.add_listentry", _("change the black and white lists"))
    entry = ListEntry(
        member=member, kind=kind, scope=scope, reason=(reason or "").strip(),
        starts_at=starts_at or timezone.now(), ends_at=ends_at, added_by=actor, review_on=review_on,
    )
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def list_entry_end(*, entry: ListEntry, actor, reason: str, at=None) -> ListEntry:
    """Take a member off a list: the entry ends at ``at`` (now) and is kept."""
    permission_require(actor, "riskcontrol.change_listentry", _("change the black and white lists"))
    at = at or timezone.now()
    entry = ListEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.ends_at is not None and entry.ends_at <= at:
        return entry
    if not (reason or "").strip():
        raise ValidationError({"end_reason": _("say why the member is taken off the list")})
    entry.ends_at = max(at, entry.starts_at + timedelta(microseconds=1))
    entry.ended_by = actor
    entry.end_reason = reason.strip()
    entry.save(update_fields=["ends_at", "ended_by", "end_reason"])
    return entry


@transaction.atomic
def blocked_credit_release(*, blocked: BlockedCredit, actor, reason: str) -> BlockedCredit:
    """Credit what a blacklist entry withheld, after review: once. The row is locked and keys its
    ledger entry (``blocked:<pk>``), so a second release, from any page or worker, books nothing."""
    _require(actor, "riskcontrol.release_blockedcredit", _("release blocked credits"))
    if not (reason or "").strip():
        raise ValidationError({"release_reason": _("say why the blocked credit is released")})
    blocked = BlockedCredit.objects.select_for_update(of=("self",)).select_related("member", "rule").get(pk=blocked.pk)
    if blocked.released_at is not None:
        return blocked
    if blocked.amount == 0:
        raise ValidationError(_("blocked credit #%(pk)s has nothing left to release: its order was refunded or cancelled") % {"pk": blocked.pk})
    entry = withheld_credit_book(
        member=blocked.member, currency=blocked.currency, amount=blocked.amount, effective_at=blocked.effective_at,
        source=blocked.source, source_ref=blocked.source_ref, rule=blocked.rule, idempotency_key=f"blocked:{blocked.pk}",
        actor=actor, reason=f"released blocked credit: {reason.strip()}"[:255],
    )
    if blocked.currency == Currency.GROWTH:
        blocked.growth_entry = entry
    else:
        blocked.points_entry = entry
    blocked.released_at, blocked.released_by, blocked.release_reason = timezone.now(), actor, reason.strip()[:255]
    blocked.save(update_fields=["growth_entry", "points_entry", "released_at", "released_by", "release_reason"])
    return blocked


# ---------------------------------------------------------------- anomaly rules and alerts


@dataclass
class ScanReport:
    rules: int = 0
    found: int = 0
    raised: int = 0
    suspended: int = 0

    def summary(self) -> str:
        return f"rules {self.rules}, incidents found {self.found}, alerts raised {self.raised}, members suspended {self.suspended}"


KEY_CHUNK = 1000


def anomaly_scan(*, since, until, members=None, kinds=None) -> ScanReport:
    """Run every active anomaly rule over [since, until) and raise an alert per new incident.

    Each rule is one set-based query (``riskcontrol.anomalies``); whitelisted members are left out
    by the query itself. An incident already alerted (the same rule, member and incident key) is not
    raised again: the rows are inserted with ON CONFLICT DO NOTHING on that unique key, so a re-scan,
    or two scans at once, raise nothing twice. A new alert of a high-severity rule with
    ``auto_suspend`` puts its member on the blacklist for earning (unless already blocked).
    ``members`` (pks) and ``kinds`` narrow the scan, for the check after a booking.
    """
    if since >= until:
        raise ValidationError(_("the scan period must end after it starts (%(since)s … %(until)s)") % {"since": since.isoformat(), "until": until.isoformat()})
    report = ScanReport()
    skip = members_whitelisted_ids(at=until)
    rules = AnomalyRule.objects.filter(is_active=True).order_by("code")
    if kinds is not None:
        rules = rules.filter(kind__in=kinds)
    for rule in rules:
        report.rules += 1
        findings = {
            (f.member_id, f.incident_key): f
            for f in anomaly_strategy_for(rule).find(since=since, until=until, skip=skip, members=members)
        }
        report.found += len(findings)
        if findings:
            raised, suspended = _alerts_raise(rule, findings)
            report.raised += raised
            report.suspended += suspended
    return report


@transaction.atomic
def _alerts_raise(rule: AnomalyRule, findings: dict) -> tuple[int, int]:
    keys = sorted({key for _, key in findings})
    existing = set()
    for start in range(0, len(keys), KEY_CHUNK):
        existing.update(
            Alert.objects.filter(rule=rule, incident_key__in=keys[start : start + KEY_CHUNK]).values_list("member_id", "incident_key")
        )
    new = [f for ident, f in findings.items() if ident not in existing]
    if not new:
        return 0, 0
    Alert.objects.bulk_create(
        [
            Alert(rule=rule, member_id=f.member_id, incident_key=f.incident_key, severity=rule.severity, details=f.details,
                  first_seen_at=f.seen_at, last_seen_at=f.seen_at)
            for f in new
        ],
        ignore_conflicts=True,
        batch_size=5000,
    )
    new_keys = sorted({f.incident_key for f in new})
    wanted = {(f.member_id, f.incident_key) for f in new}
    alerts = []
    for start in range(0, len(new_keys), KEY_CHUNK):
        alerts.extend(
            alert for alert in Alert.objects.filter(rule=rule, incident_key__in=new_keys[start : start + KEY_CHUNK])
            if (alert.member_id, alert.incident_key) in wanted
        )
    AlertEvent.objects.bulk_create(
        [AlertEvent(alert=alert, to_status=Alert.Status.OPEN, note=f"raised by {rule.code}") for alert in alerts], batch_size=5000
    )
    refs = dict(Member.objects.filter(pk__any=list({a.member_id for a in alerts})).values_list("pk", "member_id"))
    now = timezone.now()
    events_write_once([
        event_new(
            type="alert.raised", member_ref=refs[a.member_id], at=now, key=f"alert.raised:{a.pk}",
            data={"alert": a.pk, "rule": rule.code, "severity": rule.severity, "incident": a.incident_key},
        )
        for a in alerts
    ])
    suspended = 0
    if rule.auto_suspend and rule.severity == Severity.HIGH:
        now = timezone.now()
        blocked = members_blocked(member_ids={a.member_id for a in alerts}, scope=ListEntry.Scope.EARNING, at=now)
        for alert in sorted(alerts, key=lambda a: a.pk):
            if alert.member_id in blocked:
                continue
            entry = list_entry_add(
                member=Member(pk=alert.member_id), kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.EARNING,
                reason=f"suspended automatically by alert #{alert.pk} ({rule.name})"[:255], actor=None, starts_at=now,
            )
            blocked[alert.member_id] = entry.pk
            alert.list_entry = entry
            alert.save(update_fields=["list_entry"])
            suspended += 1
    return len(alerts), suspended


ALERT_TRANSITIONS = {
    Alert.Status.OPEN: {Alert.Status.INVESTIGATING, Alert.Status.RESOLVED, Alert.Status.FALSE_POSITIVE},
    Alert.Status.INVESTIGATING: {Alert.Status.OPEN, Alert.Status.RESOLVED, Alert.Status.FALSE_POSITIVE},
    Alert.Status.RESOLVED: {Alert.Status.OPEN},
    Alert.Status.FALSE_POSITIVE: {Alert.Status.OPEN},
}
CLOSING = {Alert.Status.RESOLVED, Alert.Status.FALSE_POSITIVE}


@transaction.atomic
def alert_transition(*, alert: Alert, to: str, actor, note: str = "") -> Alert:
    """Move an alert to ``to`` if the workflow allows it (open → investigating → resolved or
    false positive; a closed alert may be reopened), recording who, from, to and why."""
    _require(actor, "riskcontrol.change_alert", _("work on alerts"))
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if to not in Alert.Status.values:
        raise ValidationError({"status": _("unknown alert status %(status)s") % {"status": repr(to)}})
    if to not in ALERT_TRANSITIONS[alert.status]:
        raise ValidationError(
            _("alert #%(pk)s is %(status)s: it cannot become %(to)s") % {
                "pk": alert.pk, "status": alert.get_status_display().lower(), "to": Alert.Status(to).label.lower(),
            }
        )
    note = (note or "").strip()
    if to in CLOSING and not note:
        raise ValidationError({"note": _("say what was found before closing the alert")})
    AlertEvent.objects.create(alert=alert, actor=actor, from_status=alert.status, to_status=to, note=note[:255])
    alert.status = to
    alert.save(update_fields=["status"])
    return alert


SCAN_TASK_NAME = gettext_noop("Risk scan")  # the schedule's key; the console shows its translation


def anomaly_scan_schedule_ensure(*, interval_model=None, task_model=None) -> int:
    """Make sure the beat schedule runs ``riskcontrol.scan`` (hourly unless someone changed it in the
    admin: an existing schedule is left as it is). Returns 1 if it was created. Run by a migration
    with its historical models, and callable again at any time."""
    interval_model, task_model = interval_model or IntervalSchedule, task_model or PeriodicTask
    if task_model.objects.filter(name=SCAN_TASK_NAME).exists():
        return 0
    hourly, _ = interval_model.objects.get_or_create(every=1, period="hours")
    task_model.objects.create(
        name=SCAN_TASK_NAME, task="riskcontrol.scan", interval=hourly, enabled=True,
        description="Runs the active anomaly rules over the last two clock hours and raises alerts for new incidents.",
    )
    return 1


def anomaly_scan_recent(*, now=None) -> ScanReport:
    """What the schedule runs: the last two whole clock hours and the current one (overlapping
    scans raise nothing twice, and an hour is scanned again once it is complete)."""
    now = now or timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    return anomaly_scan(since=hour - timedelta(hours=2), until=now)


# ---------------------------------------------------------------- benefit suspensions and list files


@transaction.atomic
def benefits_suspend(*, member: Member, reason: str, actor, review_on=None, until=None) -> ListEntry:
    """Suspend a member's benefits (abuse such as reselling them): a blacklist entry of scope
    benefits, from now, with a date to review it. A member already suspended keeps the entry in
    force (the earlier review date wins if both have one): suspending twice adds nothing."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("say why the member's benefits are suspended")})
    now = timezone.now()
    current = (
        ListEntry.objects.select_for_update()
        .filter(member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.BENEFITS, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("starts_at", "pk")
        .first()
    )
    if current is not None:
        permission_require(actor, "riskcontrol.change_listentry", _("change the black and white lists"))
        if review_on and (current.review_on is None or review_on < current.review_on):
            current.review_on = review_on
            current.save(update_fields=["review_on"])
        return current
    return list_entry_add(
        member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.BENEFITS, reason=reason, actor=actor,
        starts_at=now, ends_at=until, review_on=review_on,
    )


LIST_COLUMNS = ("member_id", "kind", "scope", "reason", "until", "review_on")


@dataclass
class ListFileReport:
    counts: dict
    errors: list[str]

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())


def list_entries_import_job(*, path, name, encoding, actor, options, on_progress):
    """``list_entries_import`` run by an import job (``options``: whether the rows take members off)."""
    return list_entries_import(path=path, name=name, encoding=encoding, actor=actor, remove=bool(options.get("remove")))


def list_entries_import(*, path: str, actor, remove: bool = False, encoding: str = "utf-8", name: str = "") -> ListFileReport:
    """Black and white list entries from a CSV file (``member_id,kind,scope,reason`` and optionally
    ``until``, ``review_on``), each row through ``list_entry_add`` — or, with ``remove``, through
    ``list_entry_end`` for the member's entries of that kind and scope in force now. A row that is
    already so (listed, or not listed) is unchanged; a bad row is named and the others still apply.
    """
    permission_require(actor, "riskcontrol.change_listentry" if remove else "riskcontrol.add_listentry", _("change the black and white lists"))
    label = name or path
    counts = dict.fromkeys(("read", "ended" if remove else "added", "unchanged", "rejected"), 0)
    errors = []
    members = {}
    for row in read_rows(path, required=("member_id", "kind", "scope", "reason"), known=LIST_COLUMNS, encoding=encoding):
        counts["read"] += 1
        values = row.values
        try:
            member_id = values.get("member_id", "")
            member = members.get(member_id) or Member.objects.filter(member_id=member_id).first()
            if member is None:
                raise FieldError("member_id", unknown_member(member_id))
            members[member_id] = member
            kind = (values.get("kind") or "").lower()
            if kind not in ListEntry.Kind.values:
                raise FieldError("kind", _("kind %(value)s is not one of %(known)s") % {"value": repr(kind), "known": ", ".join(ListEntry.Kind.values)})
            scope = (values.get("scope") or "").lower()
            if scope not in ListEntry.Scope.values:
                raise FieldError("scope", _("scope %(value)s is not one of %(known)s") % {"value": repr(scope), "known": ", ".join(ListEntry.Scope.values)})
            reason = values.get("reason", "")
            if not reason:
                raise FieldError("reason", _("reason is required: say why"))
            now = timezone.now()
            in_force = ListEntry.objects.filter(member=member, kind=kind, scope=scope, starts_at__lte=now).filter(
                Q(ends_at__isnull=True) | Q(ends_at__gt=now)
            )
            with transaction.atomic():
                if remove:
                    entries = list(in_force.order_by("pk"))
                    for entry in entries:
                        list_entry_end(entry=entry, actor=actor, reason=reason, at=now)
                    counts["ended" if entries else "unchanged"] += 1
                    continue
                until = parse_when(values.get("until", ""), "until")
                if until is not None and until <= now:
                    raise FieldError("until", _("until %(value)s is not in the future") % {"value": repr(values["until"])})
                review_on = parse_day(values.get("review_on", ""), "review_on")
                if in_force.exists():
                    counts["unchanged"] += 1
                    continue
                list_entry_add(member=member, kind=kind, scope=scope, reason=reason, actor=actor, starts_at=now, ends_at=until, review_on=review_on)
                counts["added"] += 1
        except FieldError as exc:
            errors.append(row_error(label, row.number, exc.field, exc.message))
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items())) if hasattr(exc, "message_dict") else ("amount", exc.messages)
            field = "amount" if field == "__all__" else field
            errors.append(row_error(label, row.number, field, messages[0]))
        else:
            continue
        counts["rejected"] += 1
    return ListFileReport(counts=counts, errors=errors)


# The rules cheap enough to check for one member after each booking (a few indexed rows of theirs).
BOOKING_CHECK_KINDS = (
    AnomalyRule.Kind.EARNING_VELOCITY, AnomalyRule.Kind.REDEMPTION_BURST, AnomalyRule.Kind.REFUND_RATE, AnomalyRule.Kind.SHARED_PHONE,
)


def anomaly_check_member(*, member_id: int, at) -> ScanReport:
    """The check after a booking: the cheap rules, for this member, over the clock hour of ``at``.
    Alerts it raises are the scan's own (the same incident keys), so the hourly scan raises them
    no second time."""
    hour = at.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)
    return anomaly_scan(since=hour, until=hour + timedelta(hours=1), members=[member_id], kinds=BOOKING_CHECK_KINDS)


def anomaly_check_after_booking(*, member: Member, at) -> ScanReport:
    """The core's ``booking committed`` port: the check after each single booking of an order or an event."""
    return anomaly_check_member(member_id=member.pk, at=at)


def member_alerts_erase(*, member: Member) -> int:
    """Take ``member``'s phone out of their alerts (a shared phone's incidents name it) and out of
    the alerts' audit trail: the alert, its rule, status and history stay, the number is gone."""
    alerts = list(Alert.objects.filter(member=member).select_for_update())
    changed = []
    for alert in alerts:
        details = alert.details if isinstance(alert.details, dict) else {}
        if "phone" not in details and not alert.incident_key.startswith("phone:"):
            continue
        if "phone" in details:
            details["phone"] = ERASED
        key = f"phone:erased-{alert.pk}" if alert.incident_key.startswith("phone:") else alert.incident_key
        Alert.objects.filter(pk=alert.pk).update(details=details, incident_key=key)  # no audit entry keeping the number
        changed.append(alert.pk)
    return len(changed) + audit_trail_erase(model=Alert, pks=changed, fields=("details", "incident_key"))
