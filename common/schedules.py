"""The beat schedule entries the program's settings own (django-celery-beat's database scheduler)."""

from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def periodic_task_sync(
    *, name: str, task: str, description: str, crontab: dict | None = None, every_minutes: int | None = None, every_seconds: int | None = None
) -> int:
    """Make the periodic task ``name`` run ``task`` on ``crontab`` (the fields of a
    ``CrontabSchedule``, with its ``timezone``) or every ``every_minutes`` (or ``every_seconds``);
    returns 1 if it changed."""
    if crontab is not None:
        schedule, interval = CrontabSchedule.objects.get_or_create(**crontab)[0], None
    elif every_seconds is not None:
        schedule, interval = None, IntervalSchedule.objects.get_or_create(every=every_seconds, period=IntervalSchedule.SECONDS)[0]
    else:
        schedule, interval = None, IntervalSchedule.objects.get_or_create(every=every_minutes, period=IntervalSchedule.MINUTES)[0]
    entry = PeriodicTask.objects.filter(name=name).first()
    if entry and entry.task == task and entry.enabled and entry.crontab_id == getattr(schedule, "pk", None) and entry.interval_id == getattr(interval, "pk", None):
        return 0
    entry = entry or PeriodicTask(name=name)
    entry.task, entry.crontab, entry.interval, entry.enabled, entry.description = task, schedule, interval, True, description
    entry.save()
    return 1


def daily_at(*, hour: int, minute: int, time_zone: str) -> dict:
    """A crontab for every day at ``hour``:``minute`` in ``time_zone``."""
    return {"minute": str(minute), "hour": str(hour), "day_of_month": "*", "month_of_year": "*", "day_of_week": "*", "timezone": time_zone}
