"""Shared behaviour of the contract commands: plain-sentence errors, non-zero exit codes."""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

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


class ContractCommand(BaseCommand):
    """A command whose expected failures become one plain sentence and exit code 1."""

    expected_errors = (FileError, ValidationError)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except CommandError:
            raise
        except self.expected_errors as exc:
            text = validation_text(exc) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(text) from None

    def progress(self, text: str):
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()
