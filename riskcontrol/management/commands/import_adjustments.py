from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from common.commands import ContractCommand
from membership.selectors import NoActiveProgram
from riskcontrol.services import adjustments_import


class Command(ContractCommand):
    help = (
        "Request manual adjustments from CSV (member_id,amount,reason[,currency,reason_code,reference]) as a staff "
        "member: within the approval threshold they book at once, above it they wait for approval. Once per batch."
    )
    expected_errors = ContractCommand.expected_errors + (NoActiveProgram, PermissionDenied)

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--batch", required=True, help="the batch's name (e.g. 2026-11-compensation): each row is requested once per batch")
        parser.add_argument("--as", dest="username", required=True, help="the staff member who requests the adjustments")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")

    def handle(self, *args, path, batch, username, encoding, dry_run, **options):
        actor = get_user_model().objects.filter(username=username).first()
        if actor is None:
            raise CommandError(_("no staff member %(name)s") % {"name": repr(username)})
        report = adjustments_import(path=path, batch=batch, actor=actor, encoding=encoding, dry_run=dry_run)
        for error in report.errors[:100]:
            self.stderr.write(error)
        if report.rejected_path:
            self.stderr.write(_("rejected rows written to %(path)s") % {"path": report.rejected_path})
        self.stdout.write(("dry run, nothing written: " if dry_run else "") + report.summary())
        if report.counts["rejected"]:
            raise CommandError(_("%(n)s row(s) of %(path)s rejected") % {"n": report.counts["rejected"], "path": path})
