from common.commands import ContractCommand

from webhooks.services import event_types_parse, webhook_create


class Command(ContractCommand):
    help = "Subscribe an endpoint to outbound events: each is POSTed to URL, signed with SECRET (HMAC-SHA256), retried until answered."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the receiving system, e.g. crm-push")
        parser.add_argument("url", help="where the events are POSTed, http or https")
        parser.add_argument("--events", required=True, help="comma-separated event types, or * for every type")
        parser.add_argument("--secret", required=True, help="the key of the signatures (16 characters or more)")

    def handle(self, *args, name, url, events, secret, **options):
        subscription = webhook_create(name=name, url=url, event_types=event_types_parse(events), secret=secret, actor=None)
        self.stdout.write(f"subscribed webhook {subscription.name} to {', '.join(subscription.event_types)} at {subscription.url}")
