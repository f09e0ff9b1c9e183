"""Paid membership plans of the program presets (the ``plans`` section, DOMAIN §7 and §10).

Cashback is in points at the program's points per yuan (100 points = 1 yuan): JD PLUS's caps of
50,000 beans a year and 500 yuan's worth over the membership are both 50,000 points.
"""

SUBSCRIPTION_PRESETS = {
    # JD PLUS: a yearly term, cashback of 2% of the amount paid in beans (JD quotes 5%–2%; the
    # product has one rate per plan), at most 50,000 a year and 500 yuan's worth over the term,
    # no cashback on special-invoice orders, one free trial whose cashback stays frozen.
    "jd-plus": [
        {"code": "plus-year", "name": "PLUS 年卡", "name_en": "PLUS yearly", "term_months": 12, "price": "198.00",
         "points_price": None, "cashback_rate": "2.00", "yearly_cashback_cap": 50000, "term_cashback_cap": 50000,
         "trial_days": 30, "is_active": True},
    ],
    # The education app: a monthly paid term, one 7-day trial per account, points extend the term.
    "edu-paid": [
        {"code": "edu-month", "name": "学习会员月卡", "name_en": "Learning membership, monthly", "term_months": 1, "price": "30.00",
         "points_price": 3000, "cashback_rate": "0.00", "yearly_cashback_cap": None, "term_cashback_cap": None,
         "trial_days": 7, "is_active": True},
    ],
}
