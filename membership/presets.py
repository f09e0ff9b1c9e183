"""Program presets: a program's whole configuration as data, loaded by ``load_program NAME``.

The program's own settings, levels and rules are loaded by ``services.program.program_load``; the
other apps register a loader for their own section of a preset (``benefits``, the points mall,
paid membership plans…) with ``hooks.preset_section``, with the section's data for the presets
that need it (the mall of ``alipay``, the plans of ``jd-plus``), so membership does not know them.
A program's description says what the preset models; the console shows it in its language.
"""

from django.utils.translation import gettext_noop

DEFAULT = {
    "code": "default",
    "name": "Default membership program",
    "description": gettext_noop("Five levels on rolling 12-month growth; growth and points from completed orders."),
    "time_zone": "Asia/Shanghai",
    "growth_window_months": 12,
    "settlement_day": 1,
    "settlement_hour": 2,
    "points_expiry": "year_end",
    "points_expiry_years": 1,
    "points_expiry_months": None,
    "daily_growth_cap": 20000,
    "monthly_growth_cap": None,
    "daily_points_cap": None,
    "monthly_points_cap": None,
    "adjustment_approval_threshold": 1000,
    "points_per_yuan": 100,
    "levels": [
        {"code": "V0", "name": "普通会员", "name_en": "Regular", "rank": 0, "threshold": 0, "validity_months": None},
        {"code": "V1", "name": "白银会员", "name_en": "Silver", "rank": 1, "threshold": 1000, "validity_months": 12},
        {"code": "V2", "name": "黄金会员", "name_en": "Gold", "rank": 2, "threshold": 5000, "validity_months": 12},
        {"code": "V3", "name": "铂金会员", "name_en": "Platinum", "rank": 3, "threshold": 20000, "validity_months": 12},
        {"code": "V4", "name": "钻石会员", "name_en": "Diamond", "rank": 4, "threshold": 50000, "validity_months": 12},
    ],
    "rules": [
        {
            "code": "order-growth",
            "name": "Growth from completed orders: 1 per yuan, at most 10,000 an order",
            "kind": "order_amount",
            "currency": "growth",
            "priority": 100,
            "params": {"rate": 1, "per_order_cap": 10000, "statuses": ["completed"]},
        },
        {
            "code": "order-points",
            "name": "Points from completed orders: 1 per yuan",
            "kind": "order_amount",
            "currency": "points",
            "priority": 100,
            "params": {"rate": 1, "statuses": ["completed"]},
        },
    ],
    "benefits": [
        {"code": "birthday-coupon", "name": "生日礼券", "name_en": "Birthday coupon", "kind": "coupon", "min_level": "V1",
         "description": "A 20-yuan coupon on the member's birthday, valid 30 days.", "trigger": "birthday", "validity_days": 30},
        {"code": "monthly-coupon", "name": "每月会员券", "name_en": "Monthly member coupons", "kind": "coupon", "min_level": "V1",
         "description": "The month's coupons for the member's level: more at higher levels, valid 30 days.",
         "trigger": "monthly", "validity_days": 30, "levels": {"V1": 1, "V2": 2, "V3": 3, "V4": 4}},
        {"code": "free-shipping", "name": "免运费", "name_en": "Free shipping", "kind": "privilege", "min_level": "V2",
         "description": "Free shipping on every order."},
        {"code": "priority-service", "name": "优先客服", "name_en": "Priority customer service", "kind": "privilege",
         "min_level": "V3", "description": "Calls and chats answered first; fast refunds."},
        {"code": "dedicated-service", "name": "7×24 专属客服", "name_en": "Dedicated 24/7 service", "kind": "privilege",
         "min_level": "V4", "description": "A dedicated service line at any hour."},
        {"code": "diamond-badge", "name": "钻石徽章", "name_en": "Diamond badge", "kind": "badge", "min_level": "V4",
         "description": "A badge on the member's profile."},
    ],
}



def _levels(*specs, validity=12):
    """Levels from (code, Chinese name, English name, threshold), ranked in the order given."""
    return [
        {"code": code, "name": name, "name_en": name_en, "rank": rank, "threshold": threshold,
         "validity_months": None if rank == 0 else validity}
        for rank, (code, name, name_en, threshold) in enumerate(specs)
    ]


def _order_rule(code, name, currency, rate=1, **params):
    return {"code": code, "name": name, "kind": "order_amount", "currency": currency, "priority": 100,
            "params": {"rate": rate, "statuses": ["completed"], **params}}


def _event_rule(code, name, currency, event_type, amount, **limits):
    return {"code": code, "name": name, "kind": "event_fixed", "currency": currency, "priority": 50,
            "params": {"event_type": event_type, "amount": amount, **limits}}


_PROGRAM_DEFAULTS = {
    "time_zone": "Asia/Shanghai",
    "growth_window_months": 12,
    "settlement_day": 1,
    "settlement_hour": 2,
    "points_expiry": "year_end",
    "points_expiry_years": 1,
    "points_expiry_months": None,
    "daily_growth_cap": None,
    "monthly_growth_cap": None,
    "daily_points_cap": None,
    "monthly_points_cap": None,
    "adjustment_approval_threshold": 1000,
    "points_per_yuan": 100,
    "benefits": [],
}

# Alipay (Ant Member): four levels on rolling 12-month growth, each valid a year; growth from
# payments and one-time tasks; points from payments and repeated tasks, at most 4,650 a month,
# cleared at the end of the year they were earned.
ALIPAY = {
    **_PROGRAM_DEFAULTS,
    "code": "alipay",
    "name": "支付宝会员 Ant Member",
    "description": gettext_noop("Regular, gold, platinum, diamond on rolling 12-month growth; points capped at 4,650 a month and cleared at year end."),
    "points_expiry_years": 0,
    "monthly_points_cap": 4650,
    "levels": _levels(
        ("regular", "大众会员", "Regular", 0),
        ("gold", "黄金会员", "Gold", 2000),
        ("platinum", "铂金会员", "Platinum", 6000),
        ("diamond", "钻石会员", "Diamond", 18000),
    ),
    "rules": [
        _order_rule("payment-growth", "Growth from payments: 1 per yuan", "growth"),
        _order_rule("payment-points", "Points from payments: 1 per yuan", "points"),
        _event_rule("first-transfer", "One-time task: first transfer", "growth", "first_transfer", 100, once=True),
        _event_rule("first-utility-bill", "One-time task: first utility bill", "growth", "first_utility_bill", 100, once=True),
        _event_rule("utility-bill", "Utility bill: 10 points, at most 3 times a month", "points", "utility_bill", 10, per_month=3),
        _event_rule("check-in", "Daily check-in: 5 points once a day", "points", "check_in", 5, per_day=1),
    ],
}

# JD's old growth levels: copper, silver, gold, diamond on growth accumulated since joining.
JD_GROWTH = {
    **_PROGRAM_DEFAULTS,
    "code": "jd-growth",
    "name": "京东成长值（旧） JD growth levels",
    "description": gettext_noop("Copper, silver, gold, diamond on lifetime growth from orders and reviews; a level once reached is kept."),
    "growth_window_months": None,
    "levels": _levels(
        ("copper", "铜牌会员", "Copper", 0),
        ("silver", "银牌会员", "Silver", 2000),
        ("gold", "金牌会员", "Gold", 10000),
        ("diamond", "钻石会员", "Diamond", 30000),
        validity=None,
    ),
    "rules": [
        _order_rule("order-growth", "Growth from completed orders: 1 per yuan", "growth"),
        _event_rule("review", "A product review: 10 growth, at most 5 a day", "growth", "review", 10, per_day=5),
    ],
}

# VIP.com V值: consumption value = qualified amount × 5 (goods less promotions, discounts and
# coupons; shipping excluded) on completed orders only, plus behaviour value.
VIPSHOP = {
    **_PROGRAM_DEFAULTS,
    "code": "vipshop",
    "name": "唯品会 V值 VIP.com V-value",
    "description": gettext_noop("V-value = qualified amount × 5 on completed orders (returns excluded) plus behaviour value."),
    "levels": _levels(
        ("V1", "V1 会员", "V1", 0),
        ("V2", "V2 会员", "V2", 3000),
        ("V3", "V3 会员", "V3", 10000),
        ("V4", "V4 会员", "V4", 30000),
        ("V5", "V5 会员", "V5", 80000),
        ("V6", "V6 会员", "V6", 200000),
    ),
    "rules": [
        _order_rule("consumption-value", "Consumption value: qualified amount × 5", "growth", rate=5),
        _event_rule("review", "Behaviour value: a review, 10, at most 3 a day", "growth", "review", 10, per_day=3),
        _event_rule("check-in", "Behaviour value: daily check-in, 2", "growth", "check_in", 2, per_day=1),
    ],
}

# NetEase News: experience that never decays across 11 ranks, and coins to spend.
NETEASE_NEWS = {
    **_PROGRAM_DEFAULTS,
    "code": "netease-news",
    "name": "网易新闻 NetEase News",
    "description": gettext_noop("Eleven ranks on lifetime experience that never decays; coins from check-ins and reading, spent in the mall."),
    "growth_window_months": None,
    "points_expiry": "never",
    "levels": _levels(
        *[(f"Lv{n}", f"{n}级", f"Rank {n}", threshold) for n, threshold in enumerate(
            (0, 100, 300, 600, 1000, 2000, 4000, 8000, 15000, 30000, 60000), start=1)],
        validity=None,
    ),
    "rules": [
        _event_rule("check-in-experience", "Daily check-in: 5 experience", "growth", "check_in", 5, per_day=1),
        _event_rule("read-experience", "Reading an article: 1 experience, at most 10 a day", "growth", "read_article", 1, per_day=10),
        _event_rule("comment-experience", "A comment: 2 experience, at most 10 a day", "growth", "comment", 2, per_day=10),
        _event_rule("check-in-coins", "Daily check-in: 10 coins", "points", "check_in", 10, per_day=1),
        _event_rule("read-coins", "Reading an article: 2 coins, at most 20 a day", "points", "read_article", 2, per_day=20),
    ],
}

PRESETS = {preset["code"]: preset for preset in (DEFAULT, ALIPAY, JD_GROWTH, VIPSHOP, NETEASE_NEWS)}

# Taobao 88VIP 淘气值: purchase score + reward score + base score (from the member's credit standing,
# imported as each member's base score), with per-order, daily and monthly caps; updated monthly on
# the 8th; a super member from 1,000.
TAOBAO_TAOQI = {
    **_PROGRAM_DEFAULTS,
    "code": "taobao-taoqi",
    "name": "淘宝淘气值 Taobao Taoqi score",
    "description": gettext_noop("Purchase score + reward score + base score over 12 months, capped per order, day and month; "
                   "updated on the 8th; super member from 1,000."),
    "settlement_day": 8,
    "daily_growth_cap": 100,
    "monthly_growth_cap": 300,
    "levels": [
        {"code": "regular", "name": "普通会员", "name_en": "Regular", "rank": 0, "threshold": 0, "validity_months": None},
        {"code": "super", "name": "超级会员", "name_en": "Super member", "rank": 1, "threshold": 1000, "validity_months": 1},
        {"code": "apass", "name": "APASS 会员", "name_en": "APASS", "rank": 2, "threshold": 2500, "validity_months": 1},
    ],
    "rules": [
        _order_rule("purchase-score", "Purchase score: 1 per 10 yuan, at most 50 an order", "growth", rate=0.1, per_order_cap=50),
        _event_rule("quality-review", "Reward score: a quality review (8+ characters, photos), 5, at most 2 a day",
                    "growth", "quality_review", 5, per_day=2),
    ],
}

PRESETS["taobao-taoqi"] = TAOBAO_TAOQI

# JD 京享值: levels decided each month on the 2nd from the rolling 12 months' value (orders and
# activity), valid until the next settlement; each month the members get that month's coupons
# for the level they are on (more and larger coupons higher up).
JD_JINGXIANG = {
    **_PROGRAM_DEFAULTS,
    "code": "jd-jingxiang",
    "name": "京东京享值 JD Jingxiang value",
    "description": gettext_noop("Registered, copper, silver, gold, diamond on rolling 12-month value, settled monthly on the 2nd; "
                   "monthly coupons per level."),
    "settlement_day": 2,
    "levels": _levels(
        ("registered", "注册会员", "Registered", 0),
        ("copper", "铜牌会员", "Copper", 1000),
        ("silver", "银牌会员", "Silver", 2000),
        ("gold", "金牌会员", "Gold", 5000),
        ("diamond", "钻石会员", "Diamond", 10000),
        validity=1,
    ),
    "rules": [
        _order_rule("order-value", "Value from completed orders: 1 per yuan, at most 2,000 an order", "growth", per_order_cap=2000),
        _event_rule("review", "A product review with photos: 20, at most 5 a day", "growth", "review", 20, per_day=5),
    ],
    "benefits": [
        {"code": "monthly-coupons", "name": "每月专享券", "name_en": "Monthly member coupons", "kind": "coupon", "min_level": "copper",
         "description": "The month's coupons for the member's level, valid for the month.", "trigger": "monthly",
         "validity_days": 30, "levels": {"copper": 1, "silver": 2, "gold": 3, "diamond": 5}},
        {"code": "shipping-coupons", "name": "每月运费券", "name_en": "Monthly free-shipping coupons", "kind": "coupon",
         "min_level": "silver", "description": "Free-shipping coupons for the month.", "trigger": "monthly",
         "validity_days": 30, "levels": {"silver": 1, "gold": 2, "diamond": 4}},
    ],
}

PRESETS["jd-jingxiang"] = JD_JINGXIANG


def _daily_rule(code, name, currency, amount, when, **params):
    return {"code": code, "name": name, "kind": "daily", "currency": currency, "priority": 10,
            "params": {"amount": amount, "when": when, **params}}


# Weibo membership: members gain 10 growth a day, 15 on a yearly plan, and 200 for every year
# bought; levels on lifetime growth.
WEIBO = {
    **_PROGRAM_DEFAULTS,
    "code": "weibo",
    "name": "微博会员 Weibo membership",
    "description": gettext_noop("VIP1–VIP7 on growth that paying members gain each day (10, or 15 on a yearly plan) plus 200 per year bought."),
    "growth_window_months": None,
    "levels": _levels(
        *[(f"VIP{n}", f"VIP{n}", f"VIP{n}", threshold) for n, threshold in enumerate((0, 800, 2000, 4800, 10800, 28800, 50400), start=1)],
        validity=None,
    ),
    "rules": [
        _daily_rule("member-daily", "Paying members: 10 growth a day", "growth", 10, "subscribed"),
        _daily_rule("yearly-daily", "On a yearly plan: 5 more a day (15 in all)", "growth", 5, "subscribed_annual"),
        _event_rule("year-bought", "200 growth for every year of membership bought", "growth", "subscription_year", 200),
    ],
    "plans": [
        {"code": "weibo-month", "name": "微博会员月卡", "name_en": "Weibo membership, monthly", "term_months": 1, "price": "15.00",
         "points_price": None, "cashback_rate": "0.00", "yearly_cashback_cap": None, "term_cashback_cap": None, "trial_days": 0,
         "is_active": True},
        {"code": "weibo-year", "name": "微博会员年卡", "name_en": "Weibo membership, yearly", "term_months": 12, "price": "178.00",
         "points_price": None, "cashback_rate": "0.00", "yearly_cashback_cap": None, "term_cashback_cap": None, "trial_days": 0,
         "is_active": True},
    ],
}

# Tencent Video VIP: paid growth = a daily amount while a member + tasks − a decay while not a
# member (never below 0); V-coins from check-ins, spent in the coins mall.
TENCENT_VIDEO = {
    **_PROGRAM_DEFAULTS,
    "code": "tencent-video",
    "name": "腾讯视频 VIP Tencent Video VIP",
    "description": gettext_noop("V1–V8 on growth gained daily while a member and from tasks, decaying daily while not a member (never below 0); "
                   "V-coins from check-ins spent in the coins mall."),
    "growth_window_months": None,
    "points_expiry": "never",
    "levels": _levels(
        *[(f"V{n}", f"V{n}", f"V{n}", threshold) for n, threshold in enumerate((0, 600, 1800, 4800, 10800, 18000, 28800, 60000), start=1)],
        validity=None,
    ),
    "rules": [
        _daily_rule("member-daily", "Members: 10 growth a day", "growth", 10, "subscribed"),
        _daily_rule("lapsed-decay", "Not a member: 15 growth less a day, never below 0", "growth", -15, "not_subscribed", floor=0),
        _event_rule("watch-task", "Task: watch a film, 5 growth, once a day", "growth", "watch_film", 5, per_day=1),
        _event_rule("check-in-coins", "Daily check-in: 10 V-coins", "points", "check_in", 10, per_day=1),
    ],
    "plans": [
        {"code": "tv-month", "name": "VIP 月卡", "name_en": "VIP monthly", "term_months": 1, "price": "25.00", "points_price": None,
         "cashback_rate": "0.00", "yearly_cashback_cap": None, "term_cashback_cap": None, "trial_days": 0, "is_active": True},
    ],
    "mall": [
        {"code": "movie-ticket", "name": "电影票兑换券", "name_en": "Cinema ticket voucher", "kind": "coupon", "stock": 1000,
         "limit_per_member": 2, "limit_period": "month", "prices": {f"V{n}": 300 for n in range(1, 9)}},
    ],
}

# An education app's paid membership: a monthly term, one 7-day free trial per account, and
# points from lessons that can pay for another month.
EDU_PAID = {
    **_PROGRAM_DEFAULTS,
    "code": "edu-paid",
    "name": "学习会员 Education app membership",
    "description": gettext_noop("A paid monthly membership with one 7-day trial per account; points from lessons pay for more months."),
    "growth_window_months": None,
    "points_expiry": "never",
    "levels": _levels(("learner", "学员", "Learner", 0), ("scholar", "学霸", "Scholar", 1000), validity=None),
    "rules": [
        _event_rule("lesson-growth", "A lesson completed: 10 growth", "growth", "lesson_completed", 10, per_day=10),
        _event_rule("lesson-points", "A lesson completed: 100 points, at most 5 a day", "points", "lesson_completed", 100, per_day=5),
    ],
}

# JD PLUS: JD's 京享值 levels and the PLUS paid membership: yearly, cashback in beans (points) at
# the plan's rate on completed orders, at most 50,000 a year and 500 yuan's worth over the term,
# none on special-invoice orders, one free trial whose cashback stays frozen until the member buys.
JD_PLUS = {
    **JD_JINGXIANG,
    "code": "jd-plus",
    "name": "京东 PLUS 会员 JD PLUS",
    # xgettext:no-python-format (a percentage, not a placeholder)
    "description": gettext_noop("JD 京享值 levels plus the PLUS paid membership: 2% cashback in beans, at most 50,000 a year and over the term; "
                   "one 30-day trial with frozen cashback."),
    "benefits": [],
}

# JD beans (京豆): beans from orders and reviews, kept until the end of the following year, paying
# for orders at 100 beans a yuan — at most half an order, in multiples of 1,000, from a balance of
# 1,000 — and given back when the order is refunded.
JD_BEANS = {
    **_PROGRAM_DEFAULTS,
    "code": "jd-beans",
    "name": "京豆 JD beans",
    # xgettext:no-python-format (a percentage, not a placeholder)
    "description": gettext_noop("Beans from orders and reviews pay for orders: 100 a yuan, at most 50% of an order, in thousands, "
                   "from a balance of 1,000; reversed on refund."),
    "levels": JD_JINGXIANG["levels"],
    "settlement_day": 2,
    "rules": [
        *JD_JINGXIANG["rules"],
        _order_rule("order-beans", "Beans from completed orders: 1 per yuan", "points"),
        _event_rule("review-beans", "A product review: 10 beans, at most 5 a day", "points", "review", 10, per_day=5),
    ],
}

PRESETS.update({preset["code"]: preset for preset in (WEIBO, TENCENT_VIDEO, EDU_PAID, JD_PLUS, JD_BEANS)})
