from django.db import migrations


def totals_again(apps, schema_editor):
    """The dashboard's monthly totals gained a series (each month's net change of the points, for
    the liability trend): they are summed again from the ledgers at the next refresh; until then
    the dashboard reads the ledgers themselves."""
    apps.get_model("membership", "LedgerMonthTotal").objects.all().delete()
    apps.get_model("membership", "LedgerTotalsMark").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("membership", "0031_member_search_indexes"),
    ]

    operations = [
        migrations.RunPython(totals_again, migrations.RunPython.noop),
    ]
