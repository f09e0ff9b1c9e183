from datetime import date

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from common.commands import ContractCommand
from membership.services import daily_rules_catch_up, daily_rules_run


class Command(ContractCommand):
    help = (
        "Book the program's time-based rules (daily accrual and decay) for DAY, or for every day up to "
        "yesterday not booked yet. Each day is booked once."
    )

    def add_arguments(self, parser):
        parser.add_argument("day", nargs="?", help="the day to book, YYYY-MM-DD (default: every day due)")

    def handle(self, *args, day, **options):
        if day:
            try:
                wanted = date.fromisoformat(day)
            except ValueError:
                raise CommandError(_("DAY must be a date as YYYY-MM-DD, not %(day)s") % {"day": repr(day)}) from None
            runs = [daily_rules_run(day=wanted)]
        else:
            runs = daily_rules_catch_up(trigger="command")
        if not runs:
            self.stdout.write("daily rules: nothing due")
        for run in runs:
            booked = ", ".join(f"{code} {n}" for code, n in run.counts.items()) or "no daily rules"
            self.stdout.write(f"daily rules {run.day:%Y-%m-%d}: {booked}")
