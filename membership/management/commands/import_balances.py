from common.commands import ImportCommand
from membership.imports import ImportWorkerError, balances_import
from membership.selectors import NoActiveProgram, program_active_get


class Command(ImportCommand):
    help = (
        "Import opening balances from a previous system (member_id,points,earned_on,growth,growth_on): "
        "points as a lot earned on earned_on, growth dated growth_on, once per member."
    )

    expected_errors = ImportCommand.expected_errors + (NoActiveProgram, ImportWorkerError)

    def add_arguments(self, parser):
        self.add_import_arguments(parser, rows="members")

    def handle(self, *args, **options):
        self.run_import(balances_import, options, program=program_active_get())
