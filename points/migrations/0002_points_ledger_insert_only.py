from django.db import migrations

from common.ledger import ledger_protection_sql


class Migration(migrations.Migration):
    dependencies = [("points", "0001_initial")]

    operations = [ledger_protection_sql("points_pointsentry"), ledger_protection_sql("points_pointsallocation")]
