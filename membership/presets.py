"""Program presets: a program's whole configuration as data, loaded by ``load_program NAME``."""

DEFAULT = {
    "code": "default",
    "name": "Default membership program",
    "description": "Five levels on rolling 12-month growth; growth and points from completed orders.",
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
         "description": "A 20-yuan coupon in the birthday month."},
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

PRESETS = {"default": DEFAULT}
