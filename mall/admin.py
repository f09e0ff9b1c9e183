import uuid

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from common.exports import StreamedExportMixin
from common.admin import LocalDateExportMixin, ProtectedDeleteInlineMixin, ProtectedDeleteMixin, UnchangedSavesNothingForm, rows_apply_with_reason
from membership.models import Level, Member, Program
from common.spreadsheets import EXPORT_FORMATS
from membership.resources import IMPORT_FORMATS

from .models import CashOffset, CashOffsetException, CashOffsetPolicy, Lottery, LotteryDraw, LotteryPrize, MallItem, MallPrice, Redemption
from .resources import MallItemExportResource, MallItemImportResource
from membership.selectors import NoActiveProgram, program_active_get
from points.selectors import points_available_get

from .selectors import mall_items_available, offset_quote
from .services import offset_reverse, redemption_cancel, redemption_create


class RedeemForm(forms.Form):
    item = forms.ChoiceField(label=_("item"), widget=forms.RadioSelect)
    quantity = forms.IntegerField(label=_("quantity"), min_value=1, max_value=99, initial=1)
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, offered, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = [
            (item.pk, _("%(item)s: %(points)s points (%(stock)s in stock)") % {
                "item": item.display_name, "points": f"{price:,}", "stock": f"{item.stock:,}" if item.stock is not None else _("no limit"),
            })
            for item, price in offered
        ]
        if not self.is_bound:
            self.initial["token"] = uuid.uuid4().hex


class ReadOnlyAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    """Records of what members did: written by the services, shown here, never edited."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberSearchMixin:
    """A search term that is a member id finds that member's rows through the member index."""

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        member = Member.objects.filter(member_id=term).values_list("pk", flat=True).first() if term else None
        if member is not None:
            return queryset.filter(member_id=member), False
        return super().get_search_results(request, queryset, search_term)


class MallPriceInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = MallPrice
    extra = 0
    fields = ("level", "points")
    autocomplete_fields = ()

    def get_formset(self, request, obj=None, **kwargs):
        """Prices are for the levels of the item's program (the active one for a new item)."""
        formset = super().get_formset(request, obj, **kwargs)
        program = obj.program_id if obj is not None else Program.objects.filter(is_active=True).values("pk")[:1]
        if "level" in formset.form.base_fields:
            formset.form.base_fields["level"].queryset = Level.objects.filter(program=program).order_by("rank")
        return formset


@admin.register(MallItem)
class MallItemAdmin(ProtectedDeleteMixin, LocalDateExportMixin, ImportExportMixin, admin.ModelAdmin):
    form = UnchangedSavesNothingForm
    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    skip_admin_log = True
    list_display = ("code", "name", "kind", "stock", "limit_per_member", "limit_period", "available_from", "available_until", "is_active", "program")
    list_filter = ("program", "kind", "is_active")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("program",)
    show_full_result_count = False
    inlines = [MallPriceInline]

    def get_import_resource_classes(self, request):
        return [MallItemImportResource]

    def get_export_resource_classes(self, request):
        return [MallItemExportResource]


@admin.register(Redemption)
class RedemptionAdmin(StreamedExportMixin, MemberSearchMixin, ReadOnlyAdmin):
    export_columns = (
        "redeemed_at", "member__member_id", "item__code", "quantity", "points", "status", "created_by__username", "cancelled_at",
        "cancelled_by__username", "cancel_reason",
    )
    list_display = ("redeemed_at", "member", "item", "quantity", "points", "status", "created_by", "cancelled_at", "cancelled_by")
    list_filter = ("status", ("redeemed_at", admin.DateFieldListFilter))
    search_fields = ("=member__member_id", "=item__code")
    list_select_related = ("member", "item", "created_by", "cancelled_by")
    raw_id_fields = ("member",)
    ordering = ("-redeemed_at",)
    actions = ["cancel_redemptions"]

    def has_cancel_permission(self, request):
        return request.user.has_perm("mall.cancel_redemption")

    def get_urls(self):
        redeem = self.admin_site.admin_view(self.redeem_view)
        return [path("redeem/<int:member_pk>/", redeem, name="mall_redemption_redeem"), *super().get_urls()]

    def redeem_view(self, request, member_pk):
        """Customer service redeems an item for the member (``redemption_create``, as the member's
        own app would, recorded as made by the staff user); a form posted twice redeems once."""
        member = get_object_or_404(Member, pk=member_pk)
        if not request.user.has_perm("mall.redeem_for_member"):
            raise PermissionDenied
        try:
            program = program_active_get()
        except NoActiveProgram as exc:
            raise Http404(str(exc)) from exc
        offered = mall_items_available(member=member, program=program)
        form = RedeemForm(request.POST or None, offered=offered)
        if request.method == "POST" and form.is_valid():
            item = next(item for item, _price in offered if item.pk == int(form.cleaned_data["item"]))
            try:
                redemption = redemption_create(
                    member=member, item=item, quantity=form.cleaned_data["quantity"], key=f"console:{form.cleaned_data['token']}", actor=request.user,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(request, _("%(member)s redeemed %(item)s × %(n)s for %(points)s points.") % {
                    "member": member.member_id, "item": item.display_name, "n": redemption.quantity, "points": f"{redemption.points:,}",
                }, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:membership_member_change", args=[member.pk]))
        context = {
            **self.admin_site.each_context(request), "title": _("Redeem for %(member)s") % {"member": member}, "opts": self.model._meta,
            "member": member, "form": form, "available": points_available_get(member=member), "offered": offered,
        }
        return TemplateResponse(request, "admin/mall/redemption/redeem.html", context)

    @admin.action(description=_("Cancel the selected redemptions (points and stock given back)"), permissions=["cancel"])
    def cancel_redemptions(self, request, queryset):
        return rows_apply_with_reason(
            self, request, queryset,
            lambda redemption, reason: redemption_cancel(redemption=redemption, actor=request.user, reason=reason),
            _("%(n)d redemption(s) cancelled."),
            template="admin/mall/redemption/cancel.html", title=_("Cancel redemptions"),
            context={"redemptions": list(queryset.select_related("member", "item"))},
        )


class LotteryPrizeInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = LotteryPrize
    extra = 0
    fields = ("name", "kind", "weight", "stock", "points", "item")
    raw_id_fields = ("item",)


@admin.register(Lottery)
class LotteryAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    form = UnchangedSavesNothingForm
    list_display = ("code", "name", "cost", "starts_at", "ends_at", "is_active", "program")
    list_filter = ("program", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("program",)
    show_full_result_count = False
    inlines = [LotteryPrizeInline]


@admin.register(LotteryDraw)
class LotteryDrawAdmin(MemberSearchMixin, ReadOnlyAdmin):
    list_display = ("drawn_at", "member", "lottery", "prize", "cost", "seed", "status")
    list_filter = ("status", "lottery", ("drawn_at", admin.DateFieldListFilter))
    search_fields = ("=member__member_id",)
    list_select_related = ("member", "lottery", "prize")
    raw_id_fields = ("member",)
    ordering = ("-drawn_at",)


class CashOffsetExceptionInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = CashOffsetException
    extra = 0
    fields = ("category", "excluded", "max_share_percent", "min_order_amount")


class OffsetCalculatorForm(forms.Form):
    member_id = forms.CharField(label=_("member id"), max_length=64)
    order_amount = forms.DecimalField(label=_("order amount (yuan)"), min_value=0, max_digits=14, decimal_places=2)
    category = forms.CharField(label=_("category"), max_length=64, required=False)

    def clean_member_id(self):
        member = Member.objects.filter(member_id=self.cleaned_data["member_id"].strip()).first()
        if member is None:
            raise ValidationError(_("No member has the id %(id)s.") % {"id": self.cleaned_data["member_id"]})
        return member


@admin.register(CashOffsetPolicy)
class CashOffsetPolicyAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    list_display = ("program", "points_per_yuan", "max_share_percent", "step", "min_balance", "is_active")
    list_select_related = ("program",)
    show_full_result_count = False
    inlines = [CashOffsetExceptionInline]
    change_form_template = "admin/mall/cashoffsetpolicy/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.calculator_view)
        return [path("<int:pk>/calculator/", view, name="mall_cashoffsetpolicy_calculator"), *super().get_urls()]

    def calculator_view(self, request, pk):
        """Member, order amount and category in; the most points usable and why out. Nothing is spent."""
        policy = get_object_or_404(CashOffsetPolicy.objects.select_related("program"), pk=pk)
        if not self.has_view_permission(request, policy):
            raise PermissionDenied
        form = OffsetCalculatorForm(request.POST or None)
        quote = None
        if request.method == "POST" and form.is_valid():
            if not policy.program.is_active:
                form.add_error(None, _("Quotes follow the active program's policy; this policy's program is not active."))
            else:
                data = form.cleaned_data
                quote = offset_quote(member=data["member_id"], order_amount=data["order_amount"], category=data["category"].strip())
        context = {
            **self.admin_site.each_context(request), "title": _("Cash offset calculator"), "opts": self.model._meta,
            "original": policy, "form": form, "quote": quote,
        }
        return TemplateResponse(request, "admin/mall/cashoffsetpolicy/calculator.html", context)


@admin.register(CashOffset)
class CashOffsetAdmin(MemberSearchMixin, ReadOnlyAdmin):
    list_display = ("applied_at", "member", "order_ref", "order_amount", "category", "points", "yuan", "status", "reversed_at")
    list_filter = ("status", ("applied_at", admin.DateFieldListFilter))
    search_fields = ("=member__member_id", "=order_ref")
    list_select_related = ("member",)
    raw_id_fields = ("member",)
    ordering = ("-applied_at",)
    actions = ["reverse_offsets"]

    def has_reverse_permission(self, request):
        return request.user.has_perm("mall.reverse_cashoffset")

    @admin.action(description=_("Reverse the selected cash offsets (the order was refunded)"), permissions=["reverse"])
    def reverse_offsets(self, request, queryset):
        return rows_apply_with_reason(
            self, request, queryset, lambda offset, reason: offset_reverse(offset=offset, actor=request.user, reason=reason),
            _("%(n)d cash offset(s) reversed."),
            template="admin/mall/cashoffset/reverse.html", title=_("Reverse cash offsets"),
            context={"offsets": list(queryset.select_related("member"))},
        )
