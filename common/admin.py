from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from .csvio import FileError, detect_encoding
from .exports import StreamedExportMixin
from .ledger import Source
from .scratch import scratch_dir


# django-import-export's own message, whose Chinese translation reads scrambled (某些行验数据证失败):
# named here so that this project's catalog, which takes precedence, carries the right one.
IMPORT_EXPORT_MESSAGES = (gettext_noop("Some rows failed to validate"),)


class UnchangedTimesKept:
    """For a form whose unchanged times stay as they are: a page shows times to the second, so a
    time saved back unchanged would lose its microseconds, and the row (and the audit log) would
    record a change nobody made."""

    def clean(self):
        data = super().clean()
        for name, value in list(data.items()):
            initial = self.initial.get(name)
            if isinstance(value, datetime) and isinstance(initial, datetime) and value == initial.replace(microsecond=0):
                data[name] = initial
        return data


class UnchangedSavesNothingForm(UnchangedTimesKept, forms.ModelForm):
    """A model form that keeps its unchanged times (see ``UnchangedTimesKept``)."""


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` rows: a list of ten million ledger rows pages at the cost of ten
    thousand. Beyond the cap the list says "10,000+" (``capped``) and pages up to the cap."""

    CAP = 10_000

    @cached_property
    def count(self):
        return min(self._counted, self.CAP)

    @cached_property
    def capped(self) -> bool:
        return self._counted > self.CAP

    @cached_property
    def _counted(self) -> int:
        return self.object_list.order_by()[: self.CAP + 1].count()


class LedgerAdmin(admin.ModelAdmin):
    """Ledger rows are shown, never added, changed or deleted — by anyone, superusers included."""

    show_full_result_count = False
    list_per_page = 50
    paginator = CappedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryAdmin(StreamedExportMixin, LedgerAdmin):
    """The growth and points ledgers: newest first on the (member, effective_at) and effective_at
    indexes; a search term is a member id or a source reference, matched exactly through indexes;
    downloaded as filtered (streamed)."""

    export_columns = (
        "effective_at", "member__member_id", "kind", "amount", "capped", "source", "source_ref", "rule__code", "reason", "booked_at",
        "created_by__username",
    )

    list_display = ("effective_at", "member", "kind", "amount", "capped", "source", "source_ref", "rule", "booked_at", "created_by", "reason")
    list_filter = ("kind", "source", ("effective_at", admin.DateFieldListFilter))
    search_fields = ("member__member_id", "source_ref")
    search_help_text = _("A member id or a source reference (order id, event id…), exactly.")
    list_select_related = ("member", "rule", "created_by")
    ordering = ("-effective_at",)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        members = self.model._meta.get_field("member").related_model
        member = members.objects.filter(member_id=term).values_list("pk", flat=True).first()
        if member is not None:
            return queryset.filter(member_id=member), False
        # Through the (source, source_ref) index, one range per source.
        return queryset.filter(source__in=Source.values, source_ref=term), False


class ServiceCreateAdmin(admin.ModelAdmin):
    """Rows that a service makes from the add form's ``add_fields`` and that the admin never
    changes or deletes: their change page is read-only. A refusal of the service is shown as the
    reason the row was not added.

    A subclass defines ``create(self, request, data)``: the row made from the form's ``data``
    through the service. A refusal (a ``ValidationError`` or ``PermissionDenied``) is said on the
    add page, and nothing is added."""

    add_fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "create", None)):
            raise TypeError(f"{cls.__name__} must define create(request, data), the service call that makes its rows")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            created = self.create(request, {f: form.cleaned_data[f] for f in self.add_fields})
        except (ValidationError, PermissionDenied) as exc:
            raise _Refused(refusal_sentence(exc)) from exc
        obj.pk = created.pk

    def response_add(self, request, obj, post_url_continue=None):
        """Saved from a form opened elsewhere (the member page's buttons give ``next``): back there."""
        response = super().response_add(request, obj, post_url_continue)
        back = request.GET.get("next", "")
        if (
            back and "_continue" not in request.POST and "_addanother" not in request.POST
            and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
        ):
            return HttpResponseRedirect(back)
        return response

    def add_view(self, request, form_url="", extra_context=None):
        """A refusal of the service is said on the add page, in its sentence (nothing was added)."""
        try:
            return super().add_view(request, form_url, extra_context)
        except _Refused as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def refusal_sentence(exc) -> str:
    """A service's refusal (a ``ValidationError`` of one or more messages, a ``PermissionDenied``)
    as the one sentence the console shows."""
    return "; ".join(getattr(exc, "messages", None) or [str(exc)])


class _Refused(Exception):
    """The service refused to make the row (its sentence)."""


def rows_apply_with_reason(
    model_admin, request, rows, service, done_message, *, template: str, title, context: dict, field: str = "reason",
    required: bool = True, **values,
):
    """An admin action that asks why first: the page ``template`` (with ``context`` and ``title``)
    lists the rows and takes a reason in ``field``; once it is posted with one (or at once when
    the reason is not ``required``), ``service(row, reason)`` for each row (``rows_apply``, which
    ``done_message`` and ``values`` go to). Returns the page to show, or None when the rows were done."""
    reason = request.POST.get(field, "").strip()
    if required and ("apply" not in request.POST or not reason):
        return TemplateResponse(request, template, {**model_admin.admin_site.each_context(request), **context, "title": title})
    rows_apply(model_admin, request, rows, lambda row: service(row, reason), done_message, **values)
    return None


def rows_apply(model_admin, request, rows, service, done_message, **values) -> int:
    """An admin action's work: ``service(row)`` for each row. A row the service refuses is named
    with the reason and the others go on; a service returning False skipped its row. Then
    ``done_message`` (with ``%(n)d`` and any ``values``) says how many were done."""
    done = 0
    for row in rows:
        try:
            if service(row) is not False:
                done += 1
        except (ValidationError, PermissionDenied) as exc:
            reasons = refusal_sentence(exc)
            model_admin.message_user(request, f"#{row.pk}: {reasons}", messages.ERROR)
    if done:
        model_admin.message_user(request, done_message % {"n": done, **values}, messages.SUCCESS)
    return done


def file_import_view(model_admin, request, *, form, run, title: str, template: str, done_url: str, refused=(), large=None):
    """A page that takes a CSV upload and hands it to an import service.

    ``run(path=, name=, encoding=, data=)`` imports the saved upload (``data``: the form's other
    fields) and returns a report with ``errors``, ``counts`` and ``summary()``. A file that can't be
    read (or a refusal among ``refused``) is an error on the form; otherwise the rejected rows and
    the summary are shown on ``done_url``. An upload over ``IMPORT_IN_REQUEST_MAX_BYTES`` goes to
    ``large(upload=, data=)`` instead (which makes it an import job and answers the request)."""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if large is not None and upload.size > settings.IMPORT_IN_REQUEST_MAX_BYTES:
            return large(upload=upload, data=form.cleaned_data)
        with scratch_dir("upload-") as work:
            path = work / "upload.csv"
            with open(path, "wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            try:
                report = run(path=str(path), name=upload.name, encoding=detect_encoding(path), data=form.cleaned_data)
            except (FileError, ValidationError, *refused) as exc:
                form.add_error("file", "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
            else:
                for error in report.errors[:50]:
                    model_admin.message_user(request, error, messages.ERROR)
                model_admin.message_user(request, report.summary(), messages.WARNING if report.counts["rejected"] else messages.SUCCESS)
                return HttpResponseRedirect(done_url)
    context = {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.model._meta, "form": form}
    return TemplateResponse(request, template, context)


class LocalDateExportMixin:
    """django-import-export names an export by the day in UTC; ours by the day where staff are
    (the active program's time zone): ``Member-2026-12-02.xlsx`` at 01:00 in Shanghai on the 2nd."""

    def get_export_filename(self, request, queryset, file_format):
        return f"{self.model.__name__}-{timezone.localdate():%Y-%m-%d}.{file_format.get_extension()}"


def protected_by(obj, depth: int = 3) -> list[str]:
    """The kinds of rows that keep ``obj`` from being deleted (rows that point at it, or at what its
    deletion would take with it, with ``on_delete=PROTECT`` or ``RESTRICT``), by one EXISTS query
    per relation: what Django's delete page finds by loading every related row, found at once."""
    found: list[str] = []
    _protected(type(obj), type(obj)._base_manager.filter(pk=obj.pk), depth, found)
    return found


def _protected(model, rows, depth: int, found: list[str]) -> None:
    for relation in model._meta.get_fields(include_hidden=True):  # hidden: the relations named "+"
        if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)):
            continue
        children = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": rows.values("pk")})
        if relation.on_delete in (models.PROTECT, models.RESTRICT):
            name = str(relation.related_model._meta.verbose_name_plural)
            if name not in found and children.exists():
                found.append(name)
        elif relation.on_delete is models.CASCADE and depth > 1:
            _protected(relation.related_model, children, depth - 1, found)


def protected_sentence(obj, kinds: list[str]) -> str:
    return _("%(object)s cannot be deleted: %(kinds)s refer to it, and history is kept. Deactivate it or end its validity instead.") % {
        "object": obj, "kinds": ", ".join(kinds),
    }


class ProtectedDeleteMixin:
    """The delete page and the "delete selected" action say at once, in one sentence per row, why
    a row that history refers to cannot be deleted, instead of loading every related row."""

    def get_deleted_objects(self, objs, request):
        refusals = [protected_sentence(obj, kinds) for obj in objs if (kinds := protected_by(obj))]
        if refusals:
            return [], {}, set(), refusals
        return super().get_deleted_objects(objs, request)


class ProtectedDeleteInlineMixin:
    """An inline row marked for deletion that history refers to is refused in one sentence."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)

        class Form(formset.form):
            def hand_clean_DELETE(self):
                if self.cleaned_data.get("DELETE") and not self.instance._state.adding:
                    if kinds := protected_by(self.instance):
                        raise ValidationError(protected_sentence(self.instance, kinds), code="deleting_protected")

        formset.form = Form
        return formset
