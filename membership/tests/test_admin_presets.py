"""Presets in the console: Programs → Load a preset, then Make active… with the switch preview;
What if… → Apply these thresholds, recorded, with the next settlement previewed under them."""

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from membership.models import Level, Program
from membership.tests.factories import staff_signed_in

pytestmark = pytest.mark.django_db


def test_the_presets_page_lists_what_each_models_and_loads_one_without_switching(program, django_user_model):
    _, boss = staff_signed_in(django_user_model, "boss", "Program admin", "Viewer")
    page = boss.get(reverse("admin:membership_program_presets")).content.decode()
    assert 'id="preset-alipay"' in page and "points capped at 4,650 a month" in page and "gold 2,000" in page
    assert reverse("admin:membership_program_presets") in boss.get(reverse("admin:membership_program_changelist")).content.decode()

    response = boss.post(reverse("admin:membership_program_presets"), {"preset": "alipay"})
    alipay = Program.objects.get(code="alipay")
    assert response.url == reverse("admin:membership_program_activate", args=[alipay.pk])  # the switch, previewed
    assert not alipay.is_active and Program.objects.get(is_active=True) == program
    assert list(alipay.levels.order_by("rank").values_list("code", "threshold")) == [("regular", 0), ("gold", 2000), ("platinum", 6000), ("diamond", 18000)]
    preview = boss.get(response.url).content.decode()
    assert "Make" in preview and "alipay" in preview.lower()

    response = boss.post(reverse("admin:membership_program_presets"), {"preset": "nonsense"}, follow=True)
    assert "Unknown program preset" in response.content.decode()


def test_a_viewer_sees_the_presets_and_cannot_load_one(program, django_user_model):
    _, viewer = staff_signed_in(django_user_model, "zhao", "Viewer")
    page = viewer.get(reverse("admin:membership_program_presets")).content.decode()
    assert 'id="preset-weibo"' in page and 'name="preset"' not in page
    response = viewer.post(reverse("admin:membership_program_presets"), {"preset": "weibo"}, follow=True)
    assert not Program.objects.filter(code="weibo").exists()
    assert "may not load a program preset" in response.content.decode() or "not allowed" in response.content.decode()


def test_what_if_applies_the_thresholds_it_tried_and_records_who(program, django_user_model):
    boss, client = staff_signed_in(django_user_model, "boss", "Program admin", "Viewer")
    url = reverse("admin:membership_program_whatif", args=[program.pk])
    tried = {"V0": 0, "V1": 800, "V2": 5000, "V3": 20000, "V4": 50000}
    page = client.post(url, tried).content.decode()
    assert 'id="whatif-apply"' in page and Level.objects.get(program=program, code="V1").threshold == 1000  # compared, not saved
    page = client.post(url, {**tried, "apply": "1"}).content.decode()
    assert Level.objects.get(program=program, code="V1").threshold == 800
    assert "The thresholds are saved (1 level changed)" in page and "under the saved thresholds" in page and 'id="whatif-apply"' not in page
    entry = LogEntry.objects.get_for_object(Level.objects.get(program=program, code="V1")).latest("timestamp")
    assert entry.actor == boss and entry.changes_dict["threshold"] == ["1000", "800"]

    page = client.post(url, {**tried, "V2": 500, "apply": "1"}).content.decode()
    assert Level.objects.get(program=program, code="V2").threshold == 5000  # thresholds that do not rise are refused
    assert "errornote" in page or "errorlist" in page

    _, viewer = staff_signed_in(django_user_model, "zhao", "Viewer")
    viewer.post(url, {**tried, "V1": 900, "apply": "1"})
    assert Level.objects.get(program=program, code="V1").threshold == 800


def test_the_presets_say_what_they_model_in_chinese(program, django_user_model):
    _, boss = staff_signed_in(django_user_model, "boss", "Program admin", "Viewer")
    boss.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    page = boss.get(reverse("admin:membership_program_presets")).content.decode()
    assert "积分每月最多 4,650，年底清零" in page and "载入预设" in page
