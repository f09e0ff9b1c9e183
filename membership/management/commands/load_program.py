from common.commands import ContractCommand
from membership.presets import PRESETS
from membership.services import UnknownPreset, program_load


class Command(ContractCommand):
    help = "Load a program preset (levels, rules, caps, settlement day, expiry policy). Members and ledgers are untouched."
    expected_errors = ContractCommand.expected_errors + (UnknownPreset,)

    def add_arguments(self, parser):
        parser.add_argument("name", help=f"preset name: {', '.join(sorted(PRESETS))}")
        parser.add_argument("--activate", action="store_true", help="make this the active program")

    def handle(self, *args, name, activate, **options):
        program, changes = program_load(name=name, activate=activate or None)
        state = "active" if program.is_active else "not active"
        if changes:
            self.stdout.write(f"loaded program {program.code}: {changes} setting(s) changed, {state}")
        else:
            self.stdout.write(f"program {program.code} already matches the preset: nothing changed, {state}")
