"""The mall's and cash offset's sections of program presets, by program code.

``jd-beans``: JD's 京豆 — 100 beans pay 1 yuan, at most 50% of an order, only in multiples of
1,000, from a balance of at least 1,000; game cards over 50 yuan at most 20%, movie tickets over
10 yuan at most 50%. ``alipay``: the Youku monthly VIP of Ant Member's exchange, not for gold and
below, 2,250 points for platinum, 1,500 for diamond.
"""

MALL_PRESETS = {
    "jd-beans": {
        "cash_offset": {
            "points_per_yuan": 100,
            "max_share_percent": 50,
            "step": 1000,
            "min_balance": 1000,
            "exceptions": [
                {"category": "game-cards", "max_share_percent": 20, "min_order_amount": "50"},
                {"category": "movie-tickets", "max_share_percent": 50, "min_order_amount": "10"},
            ],
        },
    },
    "alipay": {
        "mall": [
            {"code": "youku-monthly-vip", "name": "优酷视频月卡", "name_en": "Youku monthly VIP", "kind": "privilege",
             "description": "One month of Youku VIP.", "limit_per_member": 1, "limit_period": "month",
             "prices": {"platinum": 2250, "diamond": 1500}},
        ],
    },
}
