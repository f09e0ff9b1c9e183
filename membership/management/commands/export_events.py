import json
import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from common.commands import ContractCommand
from common.csvio import FieldError, FileError, parse_when
from membership.models import OutboxEvent
from membership.selectors import outbox_event_body


class Command(ContractCommand):
    help = "Write the outbound events that occurred in a period as JSON lines (one event a line, the feed's shape), in the feed's order."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--since", default="", help="from this time (ISO 8601; naive is local time); default: the first event")
        parser.add_argument("--until", default="", help="up to, not including, this time; default: now")
        parser.add_argument("--type", action="append", default=[], help="only this event type (may be given more than once)")

    def handle(self, *args, path, since, until, type, **options):
        try:
            start, end = parse_when(since, "since"), parse_when(until, "until")
        except FieldError as exc:
            raise ValidationError(f"--{exc.field}: {exc.message}") from None
        events = OutboxEvent.objects.order_by("xid", "pk")
        if start:
            events = events.filter(occurred_at__gte=start)
        if end:
            events = events.filter(occurred_at__lt=end)
        if type:
            events = events.filter(type__in=type)
        target = Path(path)
        if not target.parent.exists():
            raise FileError(_("%(path)s: the folder %(folder)s does not exist") % {"path": path, "folder": target.parent})
        tmp = target.with_name(f".{target.name}.partial")
        count = 0
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                for e in events.iterator(chunk_size=5000):
                    handle.write(json.dumps(outbox_event_body(e), ensure_ascii=False) + "\n")
                    count += 1
            os.replace(tmp, target)
        except OSError as exc:
            raise FileError(_("%(path)s: cannot be written (%(reason)s)") % {"path": path, "reason": exc.strerror}) from None
        finally:
            if tmp.exists():
                tmp.unlink()
        self.stdout.write(f"exported {count} events to {path}")
