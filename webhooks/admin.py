"""Webhook subscriptions and their deliveries in the console (Program admin)."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from common.admin import ProtectedDeleteMixin, ServiceCreateAdmin, rows_apply
from membership.services.outbox import EVENT_TYPES

from .models import WebhookDelivery, WebhookSubscription
from .services import deliveries_replay, webhook_create, webhook_resume


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("event types"), choices=[("*", _("every type")), *[(t, t) for t in EVENT_TYPES]], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ("name", "url", "secret", "event_types")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ServiceCreateAdmin):
    form = SubscriptionForm
    add_fields = ("name", "url", "secret", "event_types")
    list_display = ("name", "url", "event_types", "is_active", "paused_at", "pause_reason", "created_at")
    list_filter = ("is_active", ("paused_at", admin.EmptyFieldListFilter))
    fields = ("name", "url", "event_types", "is_active", "paused_at", "pause_reason", "created_by", "created_at")
    actions = ["resume_subscriptions"]

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def create(self, request, data):
        return webhook_create(name=data["name"], url=data["url"], event_types=list(data["event_types"]), secret=data["secret"], actor=request.user)

    @admin.action(description=_("Resume the selected subscriptions"), permissions=["change"])
    def resume_subscriptions(self, request, queryset):
        rows_apply(self, request, queryset, lambda s: webhook_resume(subscription=s, actor=request.user), _("%(n)d subscription(s) resumed."))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    """The delivery log: each event to each subscription, with its attempts and last answer."""

    list_display = ("id", "subscription", "event", "member_ref", "status", "attempts", "last_status_code", "last_error", "last_attempt_at", "sent_at", "next_attempt_at")
    list_filter = ("status", "subscription")
    search_fields = ("=member_ref", "=event__id")
    list_select_related = ("subscription", "event")
    show_full_result_count = False
    actions = ["replay_deliveries"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Send the selected deliveries again"), permissions=["replay"])
    def replay_deliveries(self, request, queryset):
        count = deliveries_replay(deliveries=queryset, actor=request.user)
        self.message_user(request, _("%(n)d delivery(ies) will be sent again.") % {"n": count})

    def has_replay_permission(self, request):
        return request.user.has_perm("webhooks.change_webhooksubscription")
