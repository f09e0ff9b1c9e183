from django.core.exceptions import ValidationError

from common.commands import ContractCommand

from api.models import ApiKey
from api.services import api_key_revoke


class Command(ContractCommand):
    help = "Revoke an API key: its requests are refused from now on."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the key's name")
        parser.add_argument("--reason", default="", help="why it is revoked")

    def handle(self, *args, name, reason, **options):
        api_key = ApiKey.objects.filter(name=name).first()
        if api_key is None:
            raise ValidationError({"name": f"there is no API key named {name}"})
        already = api_key.revoked_at is not None
        api_key = api_key_revoke(api_key=api_key, actor=None, reason=reason)
        if already:
            self.stdout.write(f"API key {api_key.name} was already revoked on {api_key.revoked_at:%Y-%m-%d %H:%M}: nothing changed")
        else:
            self.stdout.write(f"revoked API key {api_key.name}")
