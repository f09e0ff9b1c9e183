from django.db import migrations

from common.ledger import ledger_protection_sql


class Migration(migrations.Migration):
    dependencies = [("membership", "0001_initial")]

    operations = [ledger_protection_sql("membership_growthentry")]
