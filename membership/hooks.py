"""The ports of the membership core: where the feature apps plug in.

The core announces what it did and asks what it must not decide alone; it imports no feature app.
Each feature registers what it contributes from its ``AppConfig.ready``, with the functions below:

Booking
- ``earning_guard(guard)``: what stops a member earning (risk control's blacklist) and keeps what
  it withheld. One guard; without one, every member earns.
- ``earning_limit(key)``: ``session(*, rules, member_pks) -> LimitSession | None`` limits what the
  rules marked ``limited`` may credit beyond the program's caps (a campaign's budget and its limit
  per member); the single and the batch path ask every registered limit, and the limit keeps its
  own count. ``shared_limit(key)``: ``shared(*, rules) -> bool`` says whether the limit bounds
  some of those rules by a count members share (a budget), so that bookings of different members
  depend on the order they come in.
- ``on_orders_booked(key)``: ``receiver(*, orders, program)`` runs in a booking's transaction with
  the orders it just wrote, from the single and the batch path alike (paid membership's cashback).
- ``on_booking_committed(key)``: ``receiver(*, member, at)`` runs once a single booking of an order
  or an event has committed (risk control's anomaly check); a failing receiver is logged and never
  undoes the booking.

Settlement, set-up and the console
- ``settlement_chunk_step(key)``: ``step(*, run, program, span) -> benefits issued`` runs in every
  settlement chunk's transaction, after the levels and the points expiry (the month's benefits).
- ``preset_section(key, specs=...)``: ``loader(*, program, specs) -> rows changed`` loads the
  ``key`` section of a program preset; ``specs`` gives the section's data for presets that do not
  carry it themselves ({preset code: specs}).
- ``program_schedule(key)``: ``sync(*, program) -> entries changed`` keeps an app's beat schedule
  entries on the active program's time zone and days.
- ``member_condition(key, label=...)``: ``q(*, program, day) -> Q`` over members, named by the
  time-based rules and the order rules' ``when`` (paid membership's ``subscribed``);
  ``member_condition_family(prefix, choices=..., known=...)``: ``q(*, code, program, day) -> Q``
  for the conditions ``prefix:CODE``, one a row of the app (the member lists' ``segment:CODE``).
- ``member_section(key, title=..., order=...)``: ``render(*, member, request) -> html`` adds a
  section to the member page (the 360 view).
- ``member_tool(key, label=..., kind=..., order=...)``: ``url(*, member, request) -> str | None``
  adds a button to the member page: ``act`` (adjust, list, suspend, redeem on the member's behalf)
  or ``see`` (the member's orders, ledgers, events, alerts); None hides it from that user.
- ``member_timeline(key)``: ``items(*, member, limit) -> [TimelineItem]`` adds the app's records
  (orders, entries, level changes, grants, redemptions, list entries) to the member's timeline.
- ``member_admin_action(action)``: adds an action to the members list.
- ``approval_queue(key, label=..., url=...)``: ``waiting(*, user) -> int`` counts the requests that
  wait for ``user``'s decision (adjustments above the threshold), ``decided(*, user, since) ->
  [Decision]`` the user's own requests decided since; the header and the front page show both.
- ``import_kind(key, label=..., permission=...)``: ``run(*, path, name, encoding, actor, options,
  on_progress) -> report`` runs an import job of kind ``key`` (risk control's adjustments and lists).
- ``personal_data(key, export=..., erase=...)``: what an app holds on a member, for the member's
  data export and the erasure of their personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from urllib.parse import urlencode

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

if TYPE_CHECKING:
    from .models import Member

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- the earning guard


class GuardSession(Protocol):
    """What one booking (of one fact, or of a batch) asks the earning guard.

    The session reads what the booking needs when it is opened and writes what it withheld on
    ``flush``, in the booking's transaction. ``block`` is whatever ``block_at`` returned (the guard's
    reason, such as a blacklist entry's pk); the core only passes it back.
    """

    def block_at(self, *, member_pk: int, at: datetime) -> object | None:
        """What stops the member earning at ``at``, or None when they may earn."""

    def withhold_more(self, *, member_pk: int, currency: str, amount: int, source: str, source_ref: str, rule, effective_at: datetime, block) -> None:
        """Keep ``amount`` more that the rule would have credited the source (an order that grew)."""

    def withhold_once(self, *, member_pk: int, currency: str, amount: int, source: str, source_ref: str, rule, effective_at: datetime, block) -> None:
        """Keep ``amount`` that the rule would have credited the source, unless something is kept
        for the source already (a fact booked once: an event, a day of a daily rule)."""

    def withheld_lower(self, *, member_pk: int, source: str, source_ref: str, rule, at_most: int) -> None:
        """The source is owed at most ``at_most`` now (its entitlement fell): lower what is kept for it."""

    def flush(self) -> None:
        """Write what the session withheld or lowered."""


class EarningGuard(Protocol):
    def session(self, *, member_pks: Iterable[int], since: datetime, until: datetime, known: Iterable[tuple[str, str]] = ()) -> GuardSession:
        """A session for bookings of ``member_pks`` dated within [since, until]; ``known`` are the
        (source, source reference) pairs booked before, whose withheld credits may change."""


class EveryoneEarns:
    """The guard when no app registers one, and the session of postings that are not earnings
    (opening balances): nothing is ever withheld."""

    def session(self, **kwargs) -> EveryoneEarns:
        return self

    def block_at(self, *, member_pk, at):
        return None

    def withheld_lower(self, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass


_GUARD: list[EarningGuard] = []


def earning_guard(guard: EarningGuard) -> EarningGuard:
    """Register the guard that decides who may earn (one per project)."""
    if _GUARD and _GUARD[0] is not guard:
        raise ImproperlyConfigured(f"an earning guard is already registered ({_GUARD[0]!r}); there can be one")
    _GUARD[:] = [guard]
    return guard


def earning_guard_session(*, member_pks: Iterable[int], since: datetime, until: datetime, known: Iterable[tuple[str, str]] = ()) -> GuardSession:
    guard = _GUARD[0] if _GUARD else EveryoneEarns()
    return guard.session(member_pks=member_pks, since=since, until=until, known=known)


# ---------------------------------------------------------------- limits beyond the caps


class LimitSession(Protocol):
    """What one booking asks a limit of the ``limited`` rules it may apply: opened with them and
    the booking's members (reading and locking its counts in the booking's transaction), written
    on ``flush``."""

    def room(self, *, rule, member_pk: int) -> int | None:
        """How much more ``rule`` may credit the member now; None when this limit does not bound it."""

    def use(self, *, rule, member_pk: int, amount: int, refused: int) -> None:
        """The booking credited ``amount`` under ``rule`` (below 0: took it back, which frees room);
        ``refused`` is what it did not credit because this booking's limits left no room."""

    def flush(self) -> None:
        """Write the counts the booking changed (raising ``LimitConflict`` when an unlocked count
        was spent meanwhile)."""


EARNING_LIMITS: dict[str, Callable] = {}


class LimitConflict(Exception):
    """A limit read without a lock (optimistically) was spent by another booking meanwhile, so
    that this booking would pass it: the booking is made again with the limit locked from the start."""


def earning_limit(key: str):
    """Register ``session(*, rules, member_pks, locked) -> LimitSession | None`` as the limit
    ``key``. Unlocked, the session reads its counts without a lock and checks them under one when
    it flushes, raising ``LimitConflict`` when another booking spent them meanwhile; locked, it
    holds its counts from the start (the retry)."""
    return _into(EARNING_LIMITS, key)


SHARED_LIMITS: dict[str, Callable] = {}


def shared_limit(key: str):
    """Register ``shared(*, rules) -> bool``: whether the limit ``key`` bounds one of the
    ``limited`` ``rules`` by a count that members share (a campaign's budget)."""
    return _into(SHARED_LIMITS, key)


def limits_shared(*, rules) -> bool:
    """Whether one of ``rules`` is bounded by a count members share, so that what one member's
    booking credits depends on the bookings of others before it."""
    limited = [rule for rule in rules if rule.limited]
    return bool(limited) and any(shared(rules=limited) for shared in SHARED_LIMITS.values())


def with_limits_retry(booking: Callable):
    """Run ``booking(locked)`` in a savepoint with the limits read optimistically; when a limit
    conflicts, roll it back and run it again with the limits locked from the start."""
    try:
        with transaction.atomic():
            return booking(False)
    except LimitConflict:
        with transaction.atomic():
            return booking(True)


class Limits:
    """Every registered limit's session for the ``limited`` rules of one booking; none opened (and
    nothing read) when the booking applies no such rule."""

    def __init__(self, *, rules, member_pks, locked: bool = False):
        limited = [rule for rule in rules if rule.limited]
        opened = (session(rules=limited, member_pks=member_pks, locked=locked) for session in EARNING_LIMITS.values()) if limited else ()
        self.sessions = [session for session in opened if session is not None]

    def room(self, *, rule, member_pk: int) -> int | None:
        room = None
        if rule.limited:
            for session in self.sessions:
                left = session.room(rule=rule, member_pk=member_pk)
                if left is not None:
                    room = left if room is None else min(room, left)
        return room

    def use(self, *, rule, member_pk: int, amount: int, refused: int = 0) -> None:
        if rule.limited and (amount or refused):
            for session in self.sessions:
                session.use(rule=rule, member_pk=member_pk, amount=amount, refused=refused)

    def flush(self) -> None:
        for session in self.sessions:
            session.flush()


# ---------------------------------------------------------------- booking announcements


ORDERS_BOOKED: dict[str, Callable[..., None]] = {}
BOOKING_COMMITTED: dict[str, Callable[..., None]] = {}


def _into(registry: dict, key: str):
    """A decorator that registers what it decorates as ``registry[key]``."""

    def register(function):
        registry[key] = function
        return function

    return register


def on_orders_booked(key: str):
    """Register ``receiver(*, orders, program)``, run in the transaction of every booking of orders."""
    return _into(ORDERS_BOOKED, key)


def on_booking_committed(key: str):
    """Register ``receiver(*, member, at)``, run after a single booking has committed."""
    return _into(BOOKING_COMMITTED, key)


def orders_booked(*, orders: list, program) -> None:
    """Tell the receivers which orders a booking just wrote (new or changed, saved)."""
    for receiver in ORDERS_BOOKED.values():
        receiver(orders=orders, program=program)


def booking_committed(*, member: Member, at: datetime) -> None:
    """Once the current transaction commits, tell the receivers that ``member`` booked a fact at ``at``."""

    def announce():
        for key, receiver in BOOKING_COMMITTED.items():
            try:
                receiver(member=member, at=at)
            except Exception:
                logger.exception("%s after a booking of member %s failed", key, member.member_id)

    transaction.on_commit(announce)


# ---------------------------------------------------------------- settlement steps


# ``step(*, run, program, span) -> benefits issued``, run in each settlement chunk's transaction.
SETTLEMENT_CHUNK_STEPS: dict[str, Callable[..., int]] = {}


def settlement_chunk_step(key: str):
    """Register ``step(*, run, program, span) -> int`` to run in every settlement chunk."""
    return _into(SETTLEMENT_CHUNK_STEPS, key)


# ---------------------------------------------------------------- program set-up


@dataclass(frozen=True)
class PresetSection:
    key: str
    loader: Callable[..., int]  # loader(*, program, specs) -> rows changed
    specs: dict  # preset code -> the section's data, for presets that do not carry it


PRESET_SECTIONS: dict[str, PresetSection] = {}

# Beat schedule entries that follow the active program (its time zone, its days), by app:
# ``sync(*, program) -> entries changed``, run whenever a program is made active or reloaded.
PROGRAM_SCHEDULES: dict[str, Callable[..., int]] = {}


def preset_section(key: str, *, specs: dict | None = None):
    """Register the loader of a preset's ``key`` section, with the section's data by preset code."""

    def register(loader):
        PRESET_SECTIONS[key] = PresetSection(key=key, loader=loader, specs=specs or {})
        return loader

    return register


def program_schedule(key: str):
    """Register the schedule ``sync`` of an app."""
    return _into(PROGRAM_SCHEDULES, key)


# ---------------------------------------------------------------- conditions of the daily rules


@dataclass(frozen=True)
class MemberCondition:
    key: str
    label: str
    q: Callable  # q(*, program, day) -> Q over Member rows


MEMBER_CONDITIONS: dict[str, MemberCondition] = {}


def member_condition(key: str, *, label: str):
    """Register ``q(*, program, day) -> Q`` as the condition ``key``: a daily rule selects every
    member it applies to in one query."""

    def register(q):
        MEMBER_CONDITIONS[key] = MemberCondition(key=key, label=label, q=q)
        return q

    return register


@dataclass(frozen=True)
class MemberConditionFamily:
    """Conditions named ``PREFIX:CODE``, one for each row an app keeps (a member list)."""

    prefix: str
    q: Callable  # q(*, code, program, day) -> Q over Member rows
    choices: Callable  # choices() -> [(code, label)]: what the rule forms offer
    known: Callable  # known(*, code, program) -> bool: whether the code names one (of the program, if given)


MEMBER_CONDITION_FAMILIES: dict[str, MemberConditionFamily] = {}


def member_condition_family(prefix: str, *, choices: Callable, known: Callable):
    """Register ``q(*, code, program, day) -> Q`` for the conditions ``prefix:CODE``."""

    def register(q):
        MEMBER_CONDITION_FAMILIES[prefix] = MemberConditionFamily(prefix=prefix, q=q, choices=choices, known=known)
        return q

    return register


def member_condition_get(key: str, *, program=None) -> MemberCondition | None:
    """The condition ``key`` names: a registered one, or ``PREFIX:CODE`` of a family whose code
    names one of its rows (of ``program``, when given); None when it names none."""
    if key in MEMBER_CONDITIONS:
        return MEMBER_CONDITIONS[key]
    prefix, colon, code = key.partition(":")
    family = MEMBER_CONDITION_FAMILIES.get(prefix) if colon and code else None
    if family is None or not family.known(code=code, program=program):
        return None

    def q(*, program, day):
        return family.q(code=code, program=program, day=day)

    return MemberCondition(key=key, label=key, q=q)


def member_condition_q(key: str, *, program, day):
    """The members for whom condition ``key`` holds on ``day``, as a Q over Member rows; a key that
    names nothing (a member list deleted since) holds for no one."""
    condition = member_condition_get(key, program=program)
    return condition.q(program=program, day=day) if condition is not None else Q(pk__in=[])


def member_condition_choices() -> list[tuple[str, str]]:
    """Every condition a rule may name, as (key, label): the registered ones, then each family's."""
    found = [(key, condition.label) for key, condition in sorted(MEMBER_CONDITIONS.items())]
    for prefix, family in sorted(MEMBER_CONDITION_FAMILIES.items()):
        found += [(f"{prefix}:{code}", label) for code, label in family.choices()]
    return found


# ---------------------------------------------------------------- the console


@dataclass(frozen=True)
class MemberSection:
    key: str
    title: str  # a lazy translation
    render: Callable  # render(*, member, request) -> safe HTML (format_html and friends)
    order: int = 100


MEMBER_SECTIONS: dict[str, MemberSection] = {}
MEMBER_ADMIN_ACTIONS: list[Callable] = []


def member_section(key: str, *, title, order: int = 100):
    """Register ``render(*, member, request)`` as the member page's ``key`` section."""

    def register(render):
        MEMBER_SECTIONS[key] = MemberSection(key=key, title=title, render=render, order=order)
        return render

    return register


def member_sections_render(*, member, request) -> list[tuple[str, str]]:
    """(title, html) of every registered section for ``member``, in order."""
    sections = sorted(MEMBER_SECTIONS.values(), key=lambda s: (s.order, s.key))
    return [(s.title, s.render(member=member, request=request)) for s in sections]


@dataclass(frozen=True)
class MemberTool:
    key: str
    label: str  # a lazy translation
    url: Callable  # url(*, member, request) -> str | None: None when the user may not use it
    kind: str = "act"  # "act" changes something, through a service; "see" lists the member's records
    order: int = 100


MEMBER_TOOLS: dict[str, MemberTool] = {}


def member_tool(key: str, *, label, kind: str = "act", order: int = 100):
    """Register ``url(*, member, request)`` as the member page's ``key`` button."""
    if kind not in ("act", "see"):
        raise ImproperlyConfigured(f"member tool {key}: kind is 'act' or 'see', not {kind!r}")

    def register(url):
        MEMBER_TOOLS[key] = MemberTool(key=key, label=label, url=url, kind=kind, order=order)
        return url

    return register


def member_tools_get(*, member, request) -> dict[str, list[tuple[str, str]]]:
    """{"act": [(label, url)], "see": [(label, url)]}: the buttons the user may use, in order."""
    tools = {"act": [], "see": []}
    for tool in sorted(MEMBER_TOOLS.values(), key=lambda t: (t.order, t.key)):
        if url := tool.url(member=member, request=request):
            tools[tool.kind].append((tool.label, url))
    return tools


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # what happened, in a word or two ("Order", "Points entry")
    text: str  # the details, in a line
    url: str = ""  # the record's page, when it has one


MEMBER_TIMELINE: dict[str, Callable] = {}


def timeline_of(rows, *, at: str, kind, text) -> list:
    """Timeline items of ``rows`` (a member's newest records): dated by their ``at`` field,
    described by ``text(row)``, each linking to its own page in the console."""
    return [
        TimelineItem(
            at=getattr(row, at), kind=kind, text=text(row),
            url=reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk]),
        )
        for row in rows
    ]


def ledger_entry_text(entry) -> str:
    return f"{entry.amount:+,} {entry.get_kind_display()} · {entry.get_source_display()} {entry.source_ref or entry.reason}".strip()


def changelist_of(name: str, member, permission: str, request, **params) -> str | None:
    """The admin list ``name`` searched for the member (the lists search by member id), for a user
    who may view it."""
    if not request.user.has_perm(permission):
        return None
    return reverse(f"admin:{name}_changelist") + "?" + urlencode({"q": member.member_id, **params})


def member_timeline(key: str):
    """Register ``items(*, member, limit) -> [TimelineItem]``: the app's newest ``limit`` records
    of the member, for the member's timeline."""
    return _into(MEMBER_TIMELINE, key)


def member_timeline_get(*, member, limit: int = 30) -> list[TimelineItem]:
    """The member's newest ``limit`` records of every app, newest first (each app is asked for
    ``limit``, one indexed query each, and the merge keeps the newest)."""
    items = [item for items in MEMBER_TIMELINE.values() for item in items(member=member, limit=limit)]
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]


def member_admin_action(action: Callable) -> Callable:
    """Add ``action`` (an admin action function) to the members list."""
    if action not in MEMBER_ADMIN_ACTIONS:
        MEMBER_ADMIN_ACTIONS.append(action)
    return action


@dataclass(frozen=True)
class Decision:
    """One of a user's requests, decided by someone else: what the requester sees of it."""

    at: datetime
    text: str  # what was asked, in a line
    approved: bool
    by: str  # who decided
    note: str
    url: str  # the request's page


@dataclass(frozen=True)
class ApprovalQueue:
    key: str
    label: str  # a lazy translation: what waits ("Manual adjustments")
    url: Callable  # url() -> the list of what waits for the signed-in user
    waiting: Callable  # waiting(*, user) -> int: the requests the user may decide now (0 without the right)
    decided: Callable  # decided(*, user, since) -> list[Decision], newest first


APPROVAL_QUEUES: dict[str, ApprovalQueue] = {}


def approval_queue(key: str, *, label, url: Callable, decided: Callable):
    """Register ``waiting(*, user) -> int`` as the approval queue ``key``, with the list it links
    to (``url()``) and the requester's view of its decisions (``decided(*, user, since)``)."""

    def register(waiting):
        APPROVAL_QUEUES[key] = ApprovalQueue(key=key, label=label, url=url, waiting=waiting, decided=decided)
        return waiting

    return register


def approvals_waiting(*, user) -> list[tuple[ApprovalQueue, int]]:
    """(queue, count) of every queue in which something waits for ``user``."""
    counts = ((queue, queue.waiting(user=user)) for queue in APPROVAL_QUEUES.values())
    return [(queue, n) for queue, n in counts if n]


def approvals_decided(*, user, since: datetime, limit: int = 10) -> list[Decision]:
    """The user's own requests decided since ``since``, newest first, from every queue."""
    decisions = [d for queue in APPROVAL_QUEUES.values() for d in queue.decided(user=user, since=since)]
    return sorted(decisions, key=lambda d: d.at, reverse=True)[:limit]


# ---------------------------------------------------------------- import jobs


@dataclass(frozen=True)
class ImportKindSpec:
    key: str
    label: str  # a lazy translation
    permission: str  # what the job's creator must be allowed, besides starting import jobs
    run: Callable  # run(*, path, name, encoding, actor, options, on_progress) -> report (counts, rejected_path)
    on_job_page: bool = True  # offered on the import jobs' own upload page (False: it needs its own page's options)


IMPORT_KINDS: dict[str, ImportKindSpec] = {}


def import_kind(key: str, *, label, permission: str, on_job_page: bool = True):
    """Register ``run(*, path, name, encoding, actor, options, on_progress)`` as the import job kind
    ``key``: an upload of that kind too large for a web request is run by a worker through it
    (``options``: what the upload form asked besides the file)."""

    def register(run):
        IMPORT_KINDS[key] = ImportKindSpec(key=key, label=label, permission=permission, run=run, on_job_page=on_job_page)
        return run

    return register


# ---------------------------------------------------------------- a member's personal data


@dataclass(frozen=True)
class PersonalData:
    key: str
    export: Callable  # export(*, member) -> JSON-ready list or dict of what the app holds on the member
    erase: Callable | None  # erase(*, member) -> rows changed: the app's personal data of the member made unreadable


PERSONAL_DATA: dict[str, PersonalData] = {}


def personal_data(key: str, *, export: Callable, erase: Callable | None = None) -> None:
    """Register what an app holds on a member: ``export`` adds it to the member's data export under
    ``key``; ``erase`` (for apps that hold personal data, not only ledgers) removes it when the
    member's personal data is erased."""
    PERSONAL_DATA[key] = PersonalData(key=key, export=export, erase=erase)
