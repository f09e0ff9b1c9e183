"""Setting up a program: loading a preset, making a program the active one, and keeping the beat
schedules that follow the active program."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from common.roles import permission_require

from .. import hooks
from ..levels import levels_validate
from ..models import EarningRule, Program
from ..presets import PRESETS
from ..rules import STRATEGIES
from ..totals import totals_schedule_sync
from .daily import daily_schedule_sync
from .reminders import reminders_schedule_sync
from .settlement import settlement_schedule_sync


class UnknownPreset(Exception):
    pass


PROGRAM_FIELDS = (
    "name",
    "description",
    "time_zone",
    "growth_window_months",
    "settlement_day",
    "settlement_hour",
    "points_expiry",
    "points_expiry_years",
    "points_expiry_months",
    "points_expiry_days",
    "offset_earns",
    "daily_growth_cap",
    "monthly_growth_cap",
    "daily_points_cap",
    "monthly_points_cap",
    "adjustment_approval_threshold",
    "points_per_yuan",
)


def _sync(instance, values: dict) -> bool:
    changed = [k for k, v in values.items() if getattr(instance, k) != v]
    for k in changed:
        setattr(instance, k, values[k])
    if changed or instance.pk is None:
        instance.full_clean()
        instance.save()
        return True
    return False


@transaction.atomic
def program_load(*, name: str, activate: bool | None = None, actor=None) -> tuple[Program, int]:
    """Make the program ``name`` match its preset; returns the program and how many rows changed.

    Members, orders and ledgers are never touched. The program becomes active when no program
    is active yet, or when ``activate`` is true. Levels and rules are matched by code; loading
    the same preset twice changes nothing. A staff ``actor`` (the console) must be allowed to
    change programs; the commands load as the system.
    """
    if actor is not None:
        permission_require(actor, "membership.change_program", _("load a program preset"))
    preset = PRESETS.get(name)
    if preset is None:
        raise UnknownPreset(_("unknown program preset %(name)s; known presets: %(known)s") % {"name": repr(name), "known": ", ".join(sorted(PRESETS))})
    unknown = set(preset) - {"code", "levels", "rules", *PROGRAM_FIELDS, *hooks.PRESET_SECTIONS}
    if unknown:
        raise UnknownPreset(f"preset {name!r} has sections no app loads: {', '.join(sorted(unknown))}")
    levels_validate([(level["code"], level["rank"], level["threshold"]) for level in preset["levels"]])
    for rule in preset["rules"]:
        STRATEGIES[rule["kind"]].validate_params(rule["params"], currency=rule["currency"])
    program = Program.objects.select_for_update().filter(code=preset["code"]).first() or Program(code=preset["code"])
    changes = int(_sync(program, {f: preset[f] if f in preset else Program._meta.get_field(f).get_default() for f in PROGRAM_FIELDS}))
    for spec in preset["levels"]:
        level = program.levels.filter(code=spec["code"]).first() or program.levels.model(program=program, code=spec["code"])
        changes += _sync(level, {k: v for k, v in spec.items() if k != "code"})
    for spec in preset["rules"]:
        rule = program.rules.filter(code=spec["code"]).first() or EarningRule(program=program, code=spec["code"])
        changes += _sync(rule, {k: v for k, v in spec.items() if k != "code"})
    for key, section in hooks.PRESET_SECTIONS.items():
        specs = preset[key] if key in preset else section.specs.get(preset["code"], [])
        changes += section.loader(program=program, specs=specs)
    if activate or (activate is None and not Program.objects.filter(is_active=True).exists()):
        changes += program_activate(program=program, actor=None)
        program.refresh_from_db()
    elif program.is_active:
        changes += program_schedules_sync(program=program)
    return program, changes


@transaction.atomic
def program_thresholds_apply(*, program: Program, thresholds: dict[str, int], actor) -> int:
    """Give the program's levels the growth ``thresholds`` (level code → threshold), as tried in
    What if…; returns how many levels changed. The thresholds must still rise with the rank; each
    change is in the audit log with the actor."""
    permission_require(actor, "membership.change_level", _("change the levels' thresholds"))
    levels = list(program.levels.select_for_update().order_by("rank"))
    unknown = sorted(set(thresholds) - {level.code for level in levels})
    if unknown:
        raise ValidationError(_("program %(program)s has no level %(levels)s") % {"program": program.code, "levels": ", ".join(unknown)})
    levels_validate([(level.code, level.rank, thresholds.get(level.code, level.threshold)) for level in levels])
    changed = 0
    for level in levels:
        if level.code in thresholds and level.threshold != thresholds[level.code]:
            level.threshold = thresholds[level.code]
            level.save(update_fields=["threshold"])
            changed += 1
    return changed


@transaction.atomic
def program_activate(*, program: Program, actor) -> int:
    """Make ``program`` the active one; returns how many rows changed (0 if it already was).

    Members and ledgers are not touched: a member keeps the level the old program gave, which
    stands for the new program's level of the same rank (``levels_by_id``) until the next
    settlement, which decides by the new program's rules and moves every member onto its levels.
    """
    permission_require(actor, "membership.change_program", _("switch the active program"))
    program = Program.objects.select_for_update().get(pk=program.pk)
    if not program.levels.exists():
        raise ValidationError(_("program %(program)s has no levels: it cannot be made active.") % {"program": program.code})
    changes = 0
    if not program.is_active:
        Program.objects.filter(is_active=True).exclude(pk=program.pk).update(is_active=False)
        program.is_active = True
        program.save(update_fields=["is_active", "updated_at"])
        changes += 1
    return changes + program_schedules_sync(program=program)


def program_schedules_sync(*, program: Program) -> int:
    """The active program's beat schedules: the monthly settlement, the daily rules, the dashboard's
    totals, and those the other apps register (``hooks.program_schedule``)."""
    changes = settlement_schedule_sync(program=program) + daily_schedule_sync(program=program) + reminders_schedule_sync(program=program)
    changes += totals_schedule_sync()
    return changes + sum(sync(program=program) for sync in hooks.PROGRAM_SCHEDULES.values())
