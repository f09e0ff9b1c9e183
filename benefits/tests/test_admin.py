"""The benefits admin: the catalog with quantities per level, its import and export, grants read-only,
and the member page's benefits section."""

import pytest
import tablib
from django.urls import reverse

from benefits.models import Benefit, BenefitGrant
from benefits.resources import BenefitResource
from benefits.services import benefit_grant
from benefits.tests.factories import at_level, blacklist
from membership.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_member_page_shows_granted_and_blocked_benefits(admin_client, program, levels, make_benefit):
    member = at_level(MemberFactory(), levels["V2"])
    benefit_grant(benefit=make_benefit("welcome-gift"), member=member, period="2026")
    blacklist(member)
    benefit_grant(benefit=make_benefit("second-gift"), member=member, period="2026")
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    assert "welcome-gift" in page and "second-gift" in page and "reselling benefits" in page
    grants = admin_client.get(reverse("admin:benefits_benefitgrant_changelist"), {"q": member.member_id}).content.decode()
    assert grants.count("welcome-gift") >= 1


def test_grants_are_read_only(admin_client, program, levels, make_benefit):
    grant = benefit_grant(benefit=make_benefit("gift"), member=at_level(MemberFactory(), levels["V1"]), period="2026")
    assert admin_client.get(reverse("admin:benefits_benefitgrant_add")).status_code == 403
    assert admin_client.post(reverse("admin:benefits_benefitgrant_delete", args=[grant.pk]), {"post": "yes"}).status_code == 403
    assert BenefitGrant.objects.filter(pk=grant.pk).exists()


def test_the_catalog_exports_and_imports_by_program_and_level_codes(program):
    exported = BenefitResource().export()
    assert "monthly-coupon" in exported.csv and ",V1," in exported.csv
    data = tablib.Dataset(headers=["program", "code", "name", "name_en", "kind", "description", "min_level", "trigger", "claim_limit",
                                   "points", "validity_days", "stock", "starts_at", "ends_at", "is_active"])
    data.append(["default", "spring-gift", "春季礼包", "Spring gift", "gift", "", "V3", "claim", "year", "200", "", "1000", "", "", "1"])
    data.append(["default", "free-shipping", "免运费", "Free shipping", "privilege", "", "V1", "level", "month", "0", "", "", "", "", "1"])
    result = BenefitResource().import_data(data, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    spring = Benefit.objects.get(code="spring-gift")
    assert (spring.min_level.code, spring.stock, spring.points, spring.trigger) == ("V3", 1000, 200, "claim")
    assert Benefit.objects.get(code="free-shipping").min_level.code == "V1"


def test_an_unknown_level_in_the_catalog_file_is_a_row_error(program):
    data = tablib.Dataset(headers=["program", "code", "name", "kind", "min_level"])
    data.append(["default", "x", "x", "gift", "V9"])
    result = BenefitResource().import_data(data, dry_run=True)
    assert result.has_validation_errors() or result.has_errors()
    assert not Benefit.objects.filter(code="x").exists()
