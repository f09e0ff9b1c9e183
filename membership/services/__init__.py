"""Services of the membership core: functions that write, each in a transaction.

One module per sub-domain:
- ``members``: members created or updated one by one or by the thousand; their latest activity;
- ``orders``: an order booked one at a time (the single path) and the rules shared with the batch;
- ``batch``: orders and opening balances booked many at once (imports), exactly as one by one;
- ``events``: behaviour events and the event rules;
- ``daily``: the time-based rules, a day at a time;
- ``adjustments``: growth by hand, and credits released after being withheld;
- ``settlement``: the monthly settlement, its previews and its schedule;
- ``privacy``: a member's data export and the erasure of their personal data;
- ``program``: presets, the active program and its schedules;
- ``posting`` and ``results``: writing one ledger entry, and what a booking says it did.

The names other apps and the interfaces use are importable from this package.
"""

from ..levels import levels_validate, settlement_decide
from .adjustments import growth_adjust, withheld_credit_book
from .batch import OpeningBalance, opening_balances_book_batch, orders_book_batch, orders_independent
from .daily import daily_rules_catch_up, daily_rules_due, daily_rules_run
from .events import event_record
from .members import member_upsert, members_upsert_batch
from .orders import ORDER_FIELDS, ORDER_STATUSES, credit_change, order_book, order_validate
from .privacy import member_data_erase, member_data_export
from .program import UnknownPreset, program_activate, program_load, program_schedules_sync, program_thresholds_apply
from .reminders import reminders_run
from .results import BatchResult, BookingResult, Rejection
from .settlement import (
    SETTLEMENT_CHUNK,
    SettlementOutcome,
    SettlementFailed,
    SettlementRefused,
    program_switch_preview,
    settlement_chunk_execute,
    settlement_default_month,
    settlement_default_month_next,
    settlement_due_month,
    settlement_month_parse,
    settlement_preview,
    settlement_queue,
    settlement_run_execute,
    settlement_run_finish,
    settlement_run_start,
    settlement_schedule_sync,
    settlement_whatif,
)

__all__ = [
    "BatchResult",
    "BookingResult",
    "ORDER_FIELDS",
    "ORDER_STATUSES",
    "OpeningBalance",
    "Rejection",
    "SETTLEMENT_CHUNK",
    "SettlementOutcome",
    "SettlementFailed",
    "SettlementRefused",
    "UnknownPreset",
    "credit_change",
    "daily_rules_catch_up",
    "daily_rules_due",
    "daily_rules_run",
    "event_record",
    "growth_adjust",
    "levels_validate",
    "member_data_erase",
    "member_data_export",
    "member_upsert",
    "members_upsert_batch",
    "opening_balances_book_batch",
    "order_book",
    "order_validate",
    "orders_book_batch",
    "orders_independent",
    "program_activate",
    "program_load",
    "program_schedules_sync",
    "program_switch_preview",
    "program_thresholds_apply",
    "reminders_run",
    "settlement_chunk_execute",
    "settlement_decide",
    "settlement_default_month",
    "settlement_default_month_next",
    "settlement_due_month",
    "settlement_month_parse",
    "settlement_preview",
    "settlement_queue",
    "settlement_run_execute",
    "settlement_run_finish",
    "settlement_run_start",
    "settlement_schedule_sync",
    "settlement_whatif",
    "withheld_credit_book",
]
