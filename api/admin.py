"""API keys in the console (Program admin): make one (its key shown once), list, revoke."""

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from common.admin import ProtectedDeleteMixin, ServiceCreateAdmin, rows_apply_with_reason

from .models import ApiKey, IdempotentResponse
from .services import api_key_create, api_key_revoke


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(label=_("scopes"), choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "rate_per_minute")


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceCreateAdmin):
    form = ApiKeyForm
    add_fields = ("name", "scopes", "rate_per_minute")
    list_display = ("name", "prefix", "scopes", "rate_per_minute", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "=prefix")
    list_select_related = ("created_by",)
    fields = ("name", "prefix", "scopes", "rate_per_minute", "user", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by", "revoke_reason")
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def create(self, request, data):
        api_key, key = api_key_create(name=data["name"], scopes=list(data["scopes"]), rate_per_minute=data["rate_per_minute"], actor=request.user)
        request._api_key_made = key  # shown once on the next page, kept nowhere
        return api_key

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request), "title": _("API key %(name)s") % {"name": obj.name}, "opts": self.model._meta,
            "original": obj, "key": request._api_key_made,
        }
        return TemplateResponse(request, "admin/api/apikey/made.html", context)

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        return rows_apply_with_reason(
            self, request, queryset, lambda api_key, reason: api_key_revoke(api_key=api_key, actor=request.user, reason=reason),
            _("%(n)d key(s) revoked: their requests are refused from now on."),
            template="admin/api/apikey/revoke.html", title=_("Revoke API keys"), context={"keys": list(queryset)},
        )


@admin.register(IdempotentResponse)
class IdempotentResponseAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    list_display = ("created_at", "key", "idempotency_key", "status_code")
    list_select_related = ("key",)
    search_fields = ("=idempotency_key",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
