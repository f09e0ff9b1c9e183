"""The campaigns the program presets lay out, by preset code: 618 and Double 11 for JD beans and
Taobao's Taoqi score, a comeback offer for dormant members in the default program.

A preset's campaign is made as a draft (by the system) for the next time its window comes round,
or for ``days`` from the day it is loaded; staff submit it and another approves it, as any
campaign. A campaign of that code that exists already is left as it is.
"""

DOUBLE_BEANS = {"kind": "order_amount", "currency": "points", "exclusive": True, "priority": 200, "member_limit": 5000}

CAMPAIGN_PRESETS = {
    "default": [
        {
            "code": "comeback", "name": "Comeback: triple points on the first order after 90 days away",
            "kind": "order_amount", "currency": "points", "params": {"rate": 2, "stages": ["dormant", "lost"], "per_order_cap": 2000},
            "days": 365, "member_limit": 2000, "budget": 5_000_000,
        },
    ],
    "jd-beans": [
        {**DOUBLE_BEANS, "code": "618", "name": "618: double beans on completed orders", "params": {"rate": 1, "min_amount": 99},
         "window": ("06-01", "06-19"), "budget": 100_000_000},
        {**DOUBLE_BEANS, "code": "double11", "name": "Double 11: double beans on completed orders", "params": {"rate": 1, "min_amount": 99},
         "window": ("11-01", "11-12"), "budget": 150_000_000},
    ],
    "taobao-taoqi": [
        {"code": "618", "name": "618: double purchase score", "kind": "order_amount", "currency": "growth",
         "params": {"rate": 0.1, "per_order_cap": 50}, "window": ("06-01", "06-19"), "exclusive": True, "priority": 200},
        {"code": "double11", "name": "Double 11: double purchase score", "kind": "order_amount", "currency": "growth",
         "params": {"rate": 0.1, "per_order_cap": 50}, "window": ("11-01", "11-12"), "exclusive": True, "priority": 200},
    ],
}
