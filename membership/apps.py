from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembershipConfig(AppConfig):
    name = "membership"
    verbose_name = _("Membership")

    def ready(self):
        from django.apps import apps
        from django.db.models.signals import post_migrate

        import common.lookups  # noqa: F401 (registers the ``__any`` lookup)
        from common.roles import roles_ensure

        from . import member_page
        from . import tasks  # noqa: F401 (registers the tasks that services queue by name)

        member_page.register()

        post_migrate.connect(lambda sender, **kwargs: roles_ensure(apps), sender=self, weak=False, dispatch_uid="membership-roles")
