from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from common.commands import ContractCommand
from riskcontrol.services import anomaly_scan


def _moment(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            _("%(option)s %(value)s is not an ISO 8601 date or time (e.g. 2026-11-29 or 2026-11-29T08:00)") % {"option": option, "value": repr(text)}
        ) from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class Command(ContractCommand):
    help = (
        "Run the active anomaly rules over a period (by default the last hour) and raise an alert for each new "
        "incident; scanning a period again raises nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="start of the period, ISO 8601 (naive times are local time); default an hour before --until")
        parser.add_argument("--until", help="end of the period (excluded), ISO 8601; default now")

    def handle(self, *args, since, until, **options):
        end = _moment(until, "--until") if until else timezone.now()
        start = _moment(since, "--since") if since else end - timedelta(hours=1)
        report = anomaly_scan(since=start, until=end)
        self.stdout.write(f"scanned {start.isoformat()} … {end.isoformat()}: {report.summary()}")
