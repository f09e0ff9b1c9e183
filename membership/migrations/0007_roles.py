from django.db import migrations


def create_roles(apps, schema_editor):
    from common.roles import roles_ensure

    # Permissions are normally created after all migrations; the roles need them now.
    roles_ensure(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("membership", "0006_import_opening_balances_permission"),
        ("points", "0002_points_ledger_insert_only"),
        ("benefits", "0001_initial"),
        ("riskcontrol", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
