"""Shared behaviour of the contract commands: plain-sentence errors, non-zero exit codes."""

import argparse
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, InterfaceError, connection
from django.utils.translation import gettext as _

from .conflicts import ConflictsExhausted, first_line
from .csvio import FieldError, FileError


def validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{m}" for msgs in exc.message_dict.values() for m in msgs)
    return "; ".join(exc.messages)


def error_field(exc) -> str:
    if isinstance(exc, FieldError):
        return exc.field
    if isinstance(exc, ValidationError) and hasattr(exc, "message_dict"):
        return next(iter(exc.message_dict), "")
    return ""


def positive(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(_("%(value)s is not a whole number of 1 or more") % {"value": repr(text)})
    return int(text)


@contextmanager
def signals_end_cleanly():
    """While the block runs, SIGTERM and SIGHUP end the command the way Ctrl-C does: by an
    exception, so its transactions roll back, its booking processes are stopped and its scratch
    files removed (SIGKILL leaves no such chance: those processes end with it, and the next
    import removes the files)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def end(signum, frame):
        raise SystemExit(128 + signum)

    before = {signum: signal.signal(signum, end) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


class ContractCommand(BaseCommand):
    """A command whose expected failures become one plain sentence and a non-zero exit code."""

    expected_errors = (FileError, ValidationError)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except CommandError:
            raise
        except self.expected_errors as exc:
            text = validation_text(exc) if isinstance(exc, ValidationError) else str(exc)
            # A file that cannot be read as a whole (missing, empty, wrong header, wrong encoding,
            # not text) exits 2; rejected rows and other refusals exit 1.
            raise CommandError(text, returncode=2 if isinstance(exc, FileError) else 1) from None
        except DatabaseError as exc:
            if isinstance(exc, ConflictsExhausted):
                raise CommandError(
                    _("%(error)s; what was committed before stays, and running the same command again goes on from there.") % {"error": exc},
                    returncode=1,
                ) from None
            try:
                tables = connection.introspection.table_names()
            except DatabaseError:
                tables = None
            if tables is None or isinstance(exc, InterfaceError):
                raise CommandError(
                    _("the database stopped answering (%(error)s); what was committed before stays, and running the same command again goes on from there.")
                    % {"error": first_line(exc)},
                    returncode=1,
                ) from None
            if "membership_program" not in tables:
                raise CommandError(
                    _("the database %(name)s has no tables yet: run `python manage.py migrate` first.") % {"name": connection.settings_dict["NAME"]}
                ) from None
            raise

    def progress(self, text: str):
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()


class ImportCommand(ContractCommand):
    """A contract import: rejected rows on stderr (the first ``SHOWN_ERRORS``), progress with rows/s
    on a terminal, the rejected-rows file named, the one-line summary last, exit 1 if any row was rejected."""

    SHOWN_ERRORS = 100
    WORKERS = min(os.cpu_count() or 1, 4)

    def add_import_arguments(self, parser, *, rows: str):
        """The options every import shares."""
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--batch-size", type=positive, default=5000, help=f"{rows} booked per transaction (default 5000)")
        parser.add_argument(
            "--workers", type=positive, default=self.WORKERS,
            help=f"processes that book at once, each its own members' rows, on PostgreSQL (default {self.WORKERS}, the CPUs up to 4)",
        )

    def run_import(self, service, options: dict, **arguments):
        """Run an import service on the command's ``options`` (those of ``add_import_arguments``)
        and ``arguments``, with rows/s progress on a terminal and its errors on stderr."""
        path, dry_run = options["path"], options["dry_run"]
        arguments.update({k: options[k] for k in ("encoding", "batch_size", "workers")})
        shown = 0
        started = time.monotonic()

        def on_error(error):
            nonlocal shown
            shown += 1
            if shown <= self.SHOWN_ERRORS:
                self.stderr.write(error)

        def on_progress(phase, done, total):
            rate = done / max(time.monotonic() - started, 1e-6)
            if phase == "read":
                self.progress(_("%(done)s rows read (%(rate)s rows/s)") % {"done": done, "rate": f"{rate:,.0f}"})
            else:
                line = _("%(done)s/%(total)s rows checked (%(rate)s rows/s)") if dry_run else _("%(done)s/%(total)s rows booked (%(rate)s rows/s)")
                self.progress(line % {"done": done, "total": total, "rate": f"{rate:,.0f}"} + "   ")

        with signals_end_cleanly():
            report = service(path=path, dry_run=dry_run, on_error=on_error, on_progress=on_progress, **arguments)
        if sys.stderr.isatty():
            self.stderr.write("")
        if shown > self.SHOWN_ERRORS:
            self.stderr.write(_("… and %(n)s more rejected row(s)") % {"n": shown - self.SHOWN_ERRORS})
        if report.rejected_path:
            self.stderr.write(_("rejected rows written to %(path)s") % {"path": report.rejected_path})
        self.stdout.write(report.summary())
        if report.counts["rejected"]:
            raise CommandError(_("%(n)s row(s) of %(path)s rejected") % {"n": report.counts["rejected"], "path": path})
