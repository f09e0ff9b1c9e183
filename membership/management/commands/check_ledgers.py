from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from membership.selectors import order_credits_reconcile
from points.selectors import points_reconcile


class Command(BaseCommand):
    help = "Check that points balances equal the sum of their entries, lots hold the balances, and order credits match the ledgers."

    def handle(self, *args, **options):
        problems = points_reconcile() + order_credits_reconcile()
        for problem in problems[:100]:
            self.stderr.write(problem)
        if problems:
            raise CommandError(_("the ledgers disagree in %(n)s place(s)") % {"n": len(problems)})
        self.stdout.write("ledgers agree: every balance equals the sum of its entries")
