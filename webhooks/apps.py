from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        from membership import hooks

        from . import tasks  # noqa: F401 (registers the tasks that services queue by name)
        from .sections import member_events_render
        from .services import webhooks_schedule_sync

        hooks.program_schedule("webhooks")(webhooks_schedule_sync)
        hooks.member_section("events", title=_("Events told to the platform"), order=70)(member_events_render)
