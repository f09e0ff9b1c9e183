import sys
import time

from django.core.management.base import CommandError

from common.commands import ContractCommand
from membership.imports import orders_import
from membership.selectors import NoActiveProgram, program_active_get

SHOWN_ERRORS = 100


class Command(ContractCommand):
    help = "Import orders from CSV and book their growth and points under the active program, idempotently."
    expected_errors = ContractCommand.expected_errors + (NoActiveProgram,)

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--no-points", action="store_true", help="credit growth only (the legacy system paid the points)")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--batch-size", type=int, default=5000, help="orders booked per transaction (default 5000)")

    def handle(self, *args, path, dry_run, no_points, encoding, batch_size, **options):
        program = program_active_get()
        shown = 0
        started = time.monotonic()

        def on_error(error):
            nonlocal shown
            shown += 1
            if shown <= SHOWN_ERRORS:
                self.stderr.write(error)

        def on_progress(phase, done, total):
            rate = done / max(time.monotonic() - started, 1e-6)
            if phase == "read":
                self.progress(f"{done} rows read ({rate:,.0f} rows/s)")
            else:
                self.progress(f"{done}/{total} orders {'checked' if dry_run else 'booked'} ({rate:,.0f} rows/s)   ")

        report = orders_import(
            path=path,
            program=program,
            encoding=encoding,
            dry_run=dry_run,
            book_points=not no_points,
            batch_size=batch_size,
            on_error=on_error,
            on_progress=on_progress,
        )
        if sys.stderr.isatty():
            self.stderr.write("")
        if shown > SHOWN_ERRORS:
            self.stderr.write(f"… and {shown - SHOWN_ERRORS} more rejected row(s)")
        if report.rejected_path:
            self.stderr.write(f"rejected rows written to {report.rejected_path}")
        self.stdout.write(report.summary())
        if report.counts["rejected"]:
            raise CommandError(f"{report.counts['rejected']} row(s) of {path} rejected")
