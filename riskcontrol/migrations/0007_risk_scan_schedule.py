from django.db import migrations


def schedule(apps, schema_editor):
    from riskcontrol.services import anomaly_scan_schedule_ensure

    anomaly_scan_schedule_ensure(
        interval_model=apps.get_model("django_celery_beat", "IntervalSchedule"),
        task_model=apps.get_model("django_celery_beat", "PeriodicTask"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("riskcontrol", "0006_anomaly_rules_and_alerts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, migrations.RunPython.noop)]
