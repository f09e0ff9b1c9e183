"""The catalog from a preset section or a CSV file: prices by level code, loaded twice changes nothing."""

import pytest

from mall.catalog import mall_catalog_sync, mall_items_import
from mall.models import MallItem

pytestmark = pytest.mark.django_db

SPECS = [
    {"code": "youku-vip", "name": "优酷月卡", "name_en": "Youku monthly VIP", "kind": "privilege", "stock": 100,
     "limit_per_member": 1, "limit_period": "month", "prices": {"V3": 2250, "V4": 1500}},
]


def prices(item):
    return dict(item.prices.values_list("level__code", "points"))


def test_the_preset_section_loads_items_and_prices_once_and_keeps_the_stock_redeemed_since(program):
    assert mall_catalog_sync(program=program, specs=SPECS) == 1
    youku = MallItem.objects.get(code="youku-vip")
    assert prices(youku) == {"V3": 2250, "V4": 1500} and youku.stock == 100
    MallItem.objects.filter(pk=youku.pk).update(stock=90)
    assert mall_catalog_sync(program=program, specs=SPECS) == 0
    assert MallItem.objects.get(pk=youku.pk).stock == 90


def test_a_csv_file_creates_and_updates_items_and_rejects_bad_rows_by_row_and_column(program, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "code,name,kind,stock,limit_per_member,limit_period,prices\n"
        "youku-vip,优酷月卡,privilege,100,1,month,V3:2250;V4:1500\n"
        "phone,手机,goods,5,,ever,V4:69999\n"
        "bad-kind,x,flowers,,,,\n"
        "bad-level,x,coupon,,,,V9:10\n"
        "bad-price,x,coupon,,,,V3=10\n",
        encoding="utf-8",
    )
    errors = []
    report = mall_items_import(path=str(path), name="items.csv", on_error=errors.append)
    assert report.counts["created"] == 2 and report.counts["rejected"] == 3
    assert errors[0] == "items.csv: row 4, column kind: kind 'flowers' is not one of coupon, goods, privilege"
    assert any("row 5, column prices: level V9 is not a level of program default" in e for e in errors)
    assert any("row 6, column prices: prices 'V3=10'" in e for e in errors)
    assert prices(MallItem.objects.get(code="phone")) == {"V4": 69999}
    path.write_text("code,name,kind,prices\nyouku-vip,优酷月卡,privilege,V3:2000;V4:1500\nphone,手机,goods,\n", encoding="utf-8")
    report = mall_items_import(path=str(path))
    assert (report.counts["changed"], report.counts["unchanged"]) == (1, 1)
    assert prices(MallItem.objects.get(code="youku-vip")) == {"V3": 2000, "V4": 1500}
    assert MallItem.objects.get(code="youku-vip").stock == 100


def test_the_alipay_preset_sections_price_the_youku_vip_by_level(db):
    from mall.presets import MALL_PRESETS
    from mall.services import MallRefused, redemption_create
    from membership.models import Level, Member
    from membership.services import program_load
    from membership.tests.factories import MemberFactory, local
    from points.services import points_credit

    program, _ = program_load(name="alipay", activate=True)
    # load_program loaded the preset's mall section; loading it again changes nothing.
    assert mall_catalog_sync(program=program, specs=MALL_PRESETS["alipay"]["mall"]) == 0
    youku = MallItem.objects.get(program=program, code="youku-monthly-vip")
    assert prices(youku) == {"platinum": 2250, "diamond": 1500}
    members = {}
    for code in ("gold", "platinum", "diamond"):
        member = MemberFactory()
        Member.objects.filter(pk=member.pk).update(level=Level.objects.get(program=program, code=code))
        member.refresh_from_db()
        points_credit(program=program, member=member, amount=3000, effective_at=local(2026, 1, 2), source="event", idempotency_key=f"a-{code}")
        members[code] = member
    with pytest.raises(MallRefused, match="not available to members at level gold"):
        redemption_create(member=members["gold"], item=youku, key="g", at=local(2026, 6, 1))
    assert redemption_create(member=members["platinum"], item=youku, key="p", at=local(2026, 6, 1)).points == 2250
    assert redemption_create(member=members["diamond"], item=youku, key="d", at=local(2026, 6, 1)).points == 1500
