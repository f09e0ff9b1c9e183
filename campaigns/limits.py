"""A campaign's budget and its limit per member, as the booking's limit (``hooks.earning_limit``).

A batch reads the campaigns of the rules it may apply without a lock and spends their budgets
in memory; at its end it locks their rows (``select_for_update``,
in the order of their keys) and adds what it spent, after checking that what others credited
meanwhile leaves room for it. When it does not, the batch raises ``LimitConflict`` and is made
again with the rows locked from the start, so what a campaign credits never passes its budget,
also for an import in several processes, whose batches take the lock only for their last
statements. A single order or event locks the rows as it reads them (it holds them for a few
statements). A member's counts need no lock of their own: every booking of a
member holds the member's row.
"""

from __future__ import annotations

from django.db.models import F

from common.bulk import rows_insert, rows_update
from membership.hooks import LimitConflict

from .models import Campaign, CampaignMember


class CampaignLimits:
    def __init__(self, *, rules, member_pks, locked: bool = False):
        campaigns = Campaign.objects.filter(rule_id__in=[rule.pk for rule in rules]).order_by("pk")
        campaigns = list(campaigns.select_for_update() if locked else campaigns)
        self.spent: dict[int, list[int]] = {}  # campaign pk -> [credited, refused] by this booking
        self.by_rule = {campaign.rule_id: campaign for campaign in campaigns}
        self.members = {
            (row.campaign_id, row.member_id): row
            for row in CampaignMember.objects.filter(campaign__in=campaigns, member_id__in=list(member_pks))
        } if campaigns else {}
        self.changed: set[int] = set()
        self.touched: dict[tuple[int, int], CampaignMember] = {}

    def _member(self, campaign: Campaign, member_pk: int) -> CampaignMember:
        key = (campaign.pk, member_pk)
        row = self.members.get(key)
        if row is None:
            row = self.members[key] = CampaignMember(campaign_id=campaign.pk, member_id=member_pk)
        return row

    def room(self, *, rule, member_pk: int) -> int | None:
        campaign = self.by_rule.get(rule.pk)
        if campaign is None:
            return None
        rooms = []
        if campaign.budget is not None:
            rooms.append(max(0, campaign.budget - campaign.credited))
        if campaign.member_limit is not None:
            rooms.append(max(0, campaign.member_limit - self._member(campaign, member_pk).credited))
        return min(rooms) if rooms else None

    def use(self, *, rule, member_pk: int, amount: int, refused: int) -> None:
        campaign = self.by_rule.get(rule.pk)
        if campaign is None:
            return
        campaign.credited += amount
        campaign.refused += refused
        spent = self.spent.setdefault(campaign.pk, [0, 0])
        spent[0] += amount
        spent[1] += refused
        row = self._member(campaign, member_pk)
        row.credited += amount
        row.refused += refused
        self.changed.add(campaign.pk)
        self.touched[campaign.pk, member_pk] = row

    def flush(self) -> None:
        changed = {c.pk: c for c in self.by_rule.values() if c.pk in self.changed}
        if changed:
            now = dict(Campaign.objects.select_for_update().filter(pk__in=sorted(changed)).order_by("pk").values_list("pk", "credited"))
            for pk, campaign in changed.items():
                if campaign.budget is not None and self.spent[pk][0] > 0 and now[pk] + self.spent[pk][0] > campaign.budget:
                    raise LimitConflict(f"campaign {campaign.code}: its budget was spent meanwhile")
            for pk in sorted(changed):
                credited, refused = self.spent[pk]
                Campaign.objects.filter(pk=pk).update(credited=F("credited") + credited, refused=F("refused") + refused)
        rows_insert(CampaignMember, [row for row in self.touched.values() if row.pk is None])
        rows_update(CampaignMember, [row for row in self.touched.values() if row.pk is not None], ["credited", "refused"])
        self.changed.clear()
        self.touched.clear()
        self.spent.clear()


def campaign_limits_session(*, rules, member_pks, locked: bool = False) -> CampaignLimits | None:
    return CampaignLimits(rules=rules, member_pks=member_pks, locked=locked)


def campaign_budgets_shared(*, rules) -> bool:
    """Whether one of ``rules`` is a campaign's with a budget, which its members share."""
    return Campaign.objects.filter(rule_id__in=[rule.pk for rule in rules], budget__isnull=False).exists()
