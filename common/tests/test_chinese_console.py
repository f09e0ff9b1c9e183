"""The console in 简体中文: the services' refusals and the import rows' reasons in the language of
whoever asked (a worker's import job in the language of who started it), every field of our models
named in both languages, permissions, roles and schedules listed in Chinese, and the libraries'
messages whose Chinese their own catalogs lack."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise

from common.permission_labels import permission_label
from membership.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("membership", "points", "benefits", "mall", "subscriptions", "invitations", "riskcontrol", "api", "webhooks")


def test_every_model_and_field_of_ours_is_named_for_translation():
    unnamed = []
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS:
            continue
        if not isinstance(model._meta.verbose_name, Promise):
            unnamed.append(f"{model.__name__} (the model)")
        for field in model._meta.get_fields():
            if field.auto_created or not (field.concrete or field.many_to_many):
                continue
            if not isinstance(field.verbose_name, Promise):
                unnamed.append(f"{model.__name__}.{field.name}")
    assert unnamed == [], "give these a verbose_name marked for translation"


def test_permissions_and_roles_read_in_chinese_and_stay_english_in_english(admin_client):
    add_member = Permission.objects.get(codename="add_member")
    erase = Permission.objects.get(codename="erase_personal_data")
    with translation.override("zh-hans"):
        assert permission_label(add_member).endswith("| 会员 | 可以添加会员")
        assert not permission_label(erase).endswith("Can erase a member's personal data")
    with translation.override("en"):
        assert permission_label(add_member).endswith("| member | Can add member")
    operator = Group.objects.get(name="Operator")
    page = admin_client.get(reverse("admin:auth_group_change", args=[operator.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "可以添加会员" in page and "Can add member" not in page and "Can view periodic task" not in page
    roles = admin_client.get(reverse("admin:auth_group_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "运营" in roles and ">Operator<" not in roles


def test_the_program_s_schedules_are_listed_by_their_chinese_names(program, admin_client):
    page = admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">月度结算<" in page and ">Monthly settlement<" not in page
    page = admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">Monthly settlement<" in page


def test_the_libraries_messages_their_own_catalogs_lack_read_in_chinese(admin_client):
    index = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Model name" not in index and "Audit log" not in index
    with translation.override("zh-hans"):
        for english in ("Periodic Tasks", "Crontab Schedule", "Correlation ID", "Confirm import", "Line number"):
            assert translation.gettext(english) != english, english


def test_settling_a_month_not_over_is_refused_in_chinese_in_the_chinese_console(program, admin_client):
    from django.utils import timezone

    month = timezone.localtime().strftime("%Y-%m")
    page = admin_client.post(
        reverse("admin:membership_settlementrun_settle"), {"month": month}, HTTP_ACCEPT_LANGUAGE="zh-hans", follow=True
    ).content.decode()
    assert "尚未结束" in page and "has not ended" not in page


def test_an_import_job_keeps_the_language_of_who_started_it_for_its_reasons(program, admin_user, settings, tmp_path):
    from membership.imports import import_job_create
    from membership.imports.jobs import import_job_run

    settings.MEDIA_ROOT = tmp_path
    MemberFactory(member_id="Z1")
    text = "order_id,member_id,paid_at,status,goods_amount\nZO1,Z1,2026-03-01 10:00:00,completed,88\nZO2,NOBODY,2026-03-01 10:00:00,completed,1\nZO3,Z1,2026-03-01 10:00:00,shipped,1\n"
    with translation.override("zh-hans"):
        job = import_job_create(kind="orders", upload=SimpleUploadedFile("每日.csv", text.encode()), actor=admin_user)
    job = import_job_run(job_id=job.pk)  # as a worker does: no request, the default language
    rejected = job.rejected_file.read().decode("utf-8-sig")
    assert "未知会员 'NOBODY'" in rejected and "unknown member" not in rejected
    assert "shipped" in rejected and "unknown status" not in rejected
    assert job.counts["created"] == 1 and job.counts["rejected"] == 2


def test_after_a_switch_the_member_page_names_the_former_level_in_chinese(program, admin_client):
    from membership.services import program_load

    member = MemberFactory(member_id="SW-ZH")
    member.level = program.levels.get(code="V2")
    member.save(update_fields=["level"])
    program_load(name="alipay", activate=True)
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "platinum 铂金会员" in page and "before the switch" not in page
