from common.commands import ContractCommand, positive
from membership.selectors import NoActiveProgram
from membership.services import SETTLEMENT_CHUNK, SettlementFailed, SettlementRefused, settlement_month_parse, settlement_run_execute


class Command(ContractCommand):
    help = "Run the monthly settlement for MONTH (YYYY-MM): levels, points expiry, monthly benefits. A settled month is not settled twice."
    expected_errors = ContractCommand.expected_errors + (SettlementRefused, SettlementFailed, NoActiveProgram)

    def add_arguments(self, parser):
        parser.add_argument("month", help="the month to settle, YYYY-MM")
        parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
        parser.add_argument("--chunk-size", type=positive, default=SETTLEMENT_CHUNK, help=f"members settled per transaction (default {SETTLEMENT_CHUNK:,})")

    def handle(self, *args, month, dry_run, chunk_size, **options):
        outcome = settlement_run_execute(month=settlement_month_parse(month), trigger="command", dry_run=dry_run, chunk_size=chunk_size)
        if dry_run and outcome.already_done:
            self.stdout.write(f"dry run for {month}, nothing changed: {month} is already settled (run finished {outcome.run.finished_at:%Y-%m-%d %H:%M}); settling it again changes nothing")
            return
        if dry_run:
            p = outcome.preview
            levels = ", ".join(f"{code} {n}" for code, n in p["levels_after"].items())
            self.stdout.write(
                f"dry run for {month}, nothing changed: would upgrade {p['up']}, downgrade {p['down']}, "
                f"renew {p['renewed']}, expire {p['points_to_expire']} points; levels after: {levels}"
            )
            return
        run = outcome.run
        if outcome.already_done:
            self.stdout.write(f"{month} is already settled (run finished {run.finished_at:%Y-%m-%d %H:%M}): nothing changed")
            return
        self.stdout.write(
            f"settled {month}: evaluated {run.members_evaluated}, up {run.members_up}, down {run.members_down}, "
            f"kept {run.members_kept}, renewed {run.members_renewed}, points expired {run.points_expired}, "
            f"benefits issued {run.benefits_issued}"
        )
