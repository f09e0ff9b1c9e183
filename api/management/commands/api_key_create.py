from common.commands import ContractCommand

from api.services import api_key_create, scopes_parse


class Command(ContractCommand):
    help = "Make an API key for a platform system. The key is printed alone on the last line, once: only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the system that will use the key, e.g. order-service")
        parser.add_argument("--scopes", required=True, help="comma-separated: ingest (members, orders, events in), read, spend")
        parser.add_argument("--rate", type=int, default=None, help="requests a minute (default: API_RATE_PER_MINUTE)")

    def handle(self, *args, name, scopes, rate, **options):
        api_key, key = api_key_create(name=name, scopes=scopes_parse(scopes), actor=None, rate_per_minute=rate)
        self.stdout.write(f"made API key {api_key.name} with scopes {', '.join(api_key.scopes)}; keep it now, it is not shown again:")
        self.stdout.write(key)
