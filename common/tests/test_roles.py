"""The roles created by migration, enforced by the services and the admin, not only by hidden buttons."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from common.timeutil import add_months
from membership.imports import import_job_create
from membership.services import settlement_run_start
from membership.tests.factories import MemberFactory
from riskcontrol.models import ManualAdjustment
from riskcontrol.services import adjustment_approve, adjustment_request

pytestmark = pytest.mark.django_db


def member_of(django_user_model, *roles, name=None):
    user = django_user_model.objects.create_user(name or "-".join(roles).lower().replace(" ", "_"), password="pw", is_staff=True)
    user.groups.set(Group.objects.filter(name__in=roles))
    return django_user_model.objects.get(pk=user.pk)


def test_the_four_roles_exist_after_migrating():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Viewer", "Operator", "Approver", "Program admin"}
    viewer = Group.objects.get(name="Viewer").permissions.values_list("codename", flat=True)
    assert all(code.startswith("view_") for code in viewer) and "view_growthentry" in viewer and "view_member" in viewer


def test_every_role_holds_each_permission_it_names():
    from common.roles import ROLES

    for name, codes in ROLES.items():
        held = {f"{app}.{code}" for app, code in Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename")}
        assert set(codes) <= held, name


def test_a_viewer_reads_everything_and_changes_nothing(client, django_user_model, program):
    viewer = member_of(django_user_model, "Viewer")
    member = MemberFactory()
    client.force_login(viewer)
    for name in ("membership_member", "membership_order", "membership_growthentry", "points_pointsentry", "riskcontrol_manualadjustment", "membership_program"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:membership_member_change", args=[member.pk])).status_code == 200
    assert client.get(reverse("admin:riskcontrol_manualadjustment_add")).status_code == 403
    assert client.get(reverse("admin:membership_order_import")).status_code == 403
    assert client.get(reverse("admin:membership_settlementrun_settle")).status_code == 403
    with pytest.raises(PermissionDenied):
        adjustment_request(member=member, currency="growth", amount=10, reason_code="goodwill", reason="x", actor=viewer)
    with pytest.raises(PermissionDenied):
        settlement_run_start(month=program.created_at.date(), actor=viewer)


def test_an_operator_adjusts_and_imports_but_neither_approves_nor_settles_nor_configures(client, django_user_model, program, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    operator = member_of(django_user_model, "Operator")
    member = MemberFactory()
    small = adjustment_request(member=member, currency="points", amount=100, reason_code="goodwill", reason="late parcel", actor=operator)
    assert small.status == ManualAdjustment.Status.BOOKED
    big = adjustment_request(member=member, currency="points", amount=5000, reason_code="goodwill", reason="lost parcel", actor=operator)
    assert big.status == ManualAdjustment.Status.PENDING
    other = member_of(django_user_model, "Operator", name="operator2")
    with pytest.raises(PermissionDenied):
        adjustment_approve(adjustment=big, actor=other)
    with pytest.raises(PermissionDenied):
        settlement_run_start(month=program.created_at.date(), actor=operator)
    upload = SimpleUploadedFile("orders.csv", b"order_id,member_id,paid_at,status,goods_amount\n")
    assert import_job_create(kind="orders", upload=upload, actor=operator).kind == "orders"
    with pytest.raises(PermissionDenied):
        import_job_create(kind="balances", upload=SimpleUploadedFile("b.csv", b"member_id\n"), actor=operator)
    client.force_login(operator)
    assert client.get(reverse("admin:membership_order_import")).status_code == 200
    assert client.post(reverse("admin:membership_program_change", args=[program.pk]), {"name": "x"}).status_code == 403


def test_an_approver_approves_what_someone_else_asked_for(django_user_model, program):
    operator = member_of(django_user_model, "Operator")
    approver = member_of(django_user_model, "Approver")
    member = MemberFactory()
    big = adjustment_request(member=member, currency="growth", amount=5000, reason_code="migration", reason="legacy growth", actor=operator)
    assert adjustment_approve(adjustment=big, actor=approver).status == ManualAdjustment.Status.BOOKED


def test_a_program_admin_configures_and_settles(client, django_user_model, program):
    admin = member_of(django_user_model, "Program admin")
    assert settlement_run_start(month=add_months(program.created_at.date().replace(day=1), -1), actor=admin).run is not None
    client.force_login(admin)
    assert client.get(reverse("admin:membership_program_change", args=[program.pk])).status_code == 200
    assert client.get(reverse("admin:membership_settlementrun_settle")).status_code == 200
    assert client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 200


def test_no_role_adds_changes_or_deletes_ledger_rows_not_even_a_superuser(admin_client):
    for name in ("membership_growthentry", "points_pointsentry", "membership_levelchange"):
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 403


def test_a_viewer_gets_403_on_every_add_change_and_delete(client, django_user_model, admin_user, program):
    from django.contrib import admin

    from membership.services import order_book
    from membership.tests.factories import local, order

    member = MemberFactory()
    order_book(facts=order("V1", member, local(2026, 3, 1), goods="50"))
    adjustment_request(member=member, currency="points", amount=10, reason_code="goodwill", reason="x", actor=admin_user)
    client.force_login(member_of(django_user_model, "Viewer"))
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        assert client.get(reverse("admin:%s_%s_add" % info)).status_code == 403, info
        obj = model._default_manager.first()
        if obj is not None:
            assert client.post(reverse("admin:%s_%s_change" % info, args=[obj.pk]), {}).status_code == 403, info
            assert client.post(reverse("admin:%s_%s_delete" % info, args=[obj.pk]), {"post": "yes"}).status_code == 403, info


def test_an_operator_cannot_approve_their_own_adjustment(django_user_model, program):
    both = member_of(django_user_model, "Operator", "Approver", name="both")
    big = adjustment_request(member=MemberFactory(), currency="points", amount=5000, reason_code="goodwill", reason="x", actor=both)
    with pytest.raises(PermissionDenied, match="different staff member"):
        adjustment_approve(adjustment=big, actor=both)


STANDARD_VIEWS = ("changelist", "add", "change", "delete", "history")


def console_urls(obj_of):
    """Every page of the console: the index, each app's, and each registered admin's list, add,
    change, delete, history and own pages (those that take no argument or the object's id)."""
    from django.contrib import admin

    urls = [reverse("admin:index")] + [reverse("admin:app_list", args=[label]) for label in {m._meta.app_label for m in admin.site._registry}]
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        obj = obj_of(model)
        urls += [reverse("admin:%s_%s_changelist" % info), reverse("admin:%s_%s_add" % info)]
        if obj is not None:
            urls += [reverse("admin:%s_%s_%s" % (*info, view), args=[obj.pk]) for view in ("change", "delete", "history")]
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if not name or name in {"%s_%s_%s" % (*info, view) for view in STANDARD_VIEWS}:
                continue
            params = set(getattr(pattern.pattern, "converters", {})) or set(pattern.pattern.regex.groupindex)
            if not params:
                urls.append(reverse(f"admin:{name}"))
            elif params <= {"object_id", "pk"} and obj is not None:
                urls.append(reverse(f"admin:{name}", args=[obj.pk]))
    return urls


@pytest.mark.parametrize("roles", [("Viewer",), ("Operator",), ("Approver",), ("Program admin",), ()], ids=["viewer", "operator", "approver", "program-admin", "superuser"])
def test_every_console_page_answers_each_role_and_never_with_a_server_error(client, django_user_model, admin_user, console_data, roles):
    from django.contrib import admin

    client.force_login(member_of(django_user_model, *roles) if roles else admin_user)

    answers, failures = {}, []
    app_pages = {reverse("admin:app_list", args=[label]) for label in {m._meta.app_label for m in admin.site._registry}}
    for url in console_urls(lambda model: model._default_manager.order_by("pk").last()):
        try:
            status = client.get(url).status_code
        except Exception as exc:  # the test client raises what the view raised: a 500 for a user
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        answers[url] = status
        if status not in (200, 302, 403, 405) and not (status == 404 and url in app_pages):  # an app with nothing the role sees
            failures.append(f"{url}: {status}")
    assert not failures, "\n".join(failures)
    assert len(answers) > 150 and list(answers.values()).count(200) > 50


def test_every_row_is_named_in_words_not_as_a_python_object(console_data):
    """What the console shows of a row in titles, breadcrumbs, deletions and the audit log."""
    from django.apps import apps

    named = {}
    for model in apps.get_models():
        if model.__module__.split(".")[0] in ("membership", "points", "benefits", "subscriptions", "invitations", "riskcontrol", "mall", "api", "webhooks"):
            obj = model._default_manager.order_by("pk").last()
            if obj is not None:
                named[model._meta.label] = str(obj)
    assert len(named) > 20
    assert not {label: text for label, text in named.items() if " object (" in text}


def test_every_check_of_the_database_has_a_sentence_for_the_person_who_trips_it():
    from django.apps import apps
    from django.db.models import CheckConstraint

    unworded = [
        f"{model._meta.label}: {constraint.name}"
        for model in apps.get_models()
        if model.__module__.split(".")[0] in ("membership", "points", "benefits", "subscriptions", "invitations", "riskcontrol", "mall", "api", "webhooks")
        for constraint in model._meta.constraints
        if isinstance(constraint, CheckConstraint) and constraint.violation_error_message == constraint.default_violation_error_message
    ]
    assert not unworded


def test_a_zero_adjustment_is_refused_in_a_sentence_not_by_its_constraints_name(program):
    from django.core.exceptions import ValidationError

    adjustment = ManualAdjustment(member=MemberFactory(), currency="points", amount=0, reason_code="goodwill", reason="x")
    with pytest.raises(ValidationError) as refused:
        adjustment.validate_constraints()
    assert refused.value.messages == ["An adjustment of 0 changes nothing: give an amount above or below 0."]
