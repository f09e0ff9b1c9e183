from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("Platform API")

    def ready(self):
        from . import schema  # noqa: F401 (describes the key authentication in the OpenAPI schema)
