from common.commands import ImportCommand
from membership.imports import ImportWorkerError, members_import


class Command(ImportCommand):
    help = "Import members from CSV (member_id,name,phone,birthday,joined_at). Re-importing updates, never duplicates."
    expected_errors = ImportCommand.expected_errors + (ImportWorkerError,)

    def add_arguments(self, parser):
        self.add_import_arguments(parser, rows="members")

    def handle(self, *args, **options):
        self.run_import(members_import, options)
