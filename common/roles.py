"""The staff roles of the console, as Django groups with model permissions.

The services check these permissions themselves (``permission_require``), so a role holds however
a change is attempted — admin page, action, URL typed by hand — not only where buttons are hidden.
Ledger rows have no role that may add, change or delete them: the admin refuses that to everyone.
"""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext, gettext_noop

APPS = ("membership", "points", "benefits", "subscriptions", "invitations", "riskcontrol", "campaigns", "segments", "mall", "api", "webhooks", "django_celery_beat")

# The roles by their group names, which stay English in the database; the console shows them
# translated (``permission_labels.group_label``), hence marked here.
ROLES = {
    # Reads everything, changes nothing.
    gettext_noop("Viewer"): [],
    # Day-to-day operations: adjustments up to the approval threshold, imports, member profiles.
    gettext_noop("Operator"): [
        "riskcontrol.add_manualadjustment",
        "membership.add_order",
        "membership.add_member",
        "membership.change_member",
        "membership.add_importjob",
        "riskcontrol.add_listentry",
        "riskcontrol.change_listentry",
        "riskcontrol.change_alert",
        "mall.cancel_redemption",
        "mall.redeem_for_member",
        "subscriptions.change_subscription",
        "mall.reverse_cashoffset",
    ],
    # Approves (or rejects) adjustments above the threshold that someone else requested.
    gettext_noop("Approver"): [
        "riskcontrol.approve_manualadjustment",
        "riskcontrol.release_blockedcredit",
        "campaigns.approve_campaign",
    ],
    # The program's configuration, the settlement and its schedule, opening balances.
    gettext_noop("Program admin"): [
        "membership.change_program",
        "membership.add_level",
        "membership.change_level",
        "membership.delete_level",
        "membership.add_earningrule",
        "membership.change_earningrule",
        "membership.delete_earningrule",
        "membership.add_settlementrun",
        "membership.add_importjob",
        "membership.import_opening_balances",
        "membership.export_personal_data",
        "membership.erase_personal_data",
        "riskcontrol.add_anomalyrule",
        "riskcontrol.change_anomalyrule",
        "benefits.add_benefit",
        "benefits.change_benefit",
        "benefits.delete_benefit",
        "benefits.add_benefitlevel",
        "benefits.change_benefitlevel",
        "benefits.delete_benefitlevel",
        "benefits.add_benefitgrant",
        "mall.add_mallitem",
        "mall.change_mallitem",
        "mall.delete_mallitem",
        "mall.add_mallprice",
        "mall.change_mallprice",
        "mall.delete_mallprice",
        "subscriptions.add_plan",
        "subscriptions.change_plan",
        "subscriptions.delete_plan",
        "invitations.add_invitationpolicy",
        "invitations.change_invitationpolicy",
        "mall.add_lottery",
        "mall.change_lottery",
        "mall.delete_lottery",
        "mall.add_lotteryprize",
        "mall.change_lotteryprize",
        "mall.delete_lotteryprize",
        "mall.add_cashoffsetpolicy",
        "mall.change_cashoffsetpolicy",
        "mall.add_cashoffsetexception",
        "mall.change_cashoffsetexception",
        "mall.delete_cashoffsetexception",
        "membership.change_base_score",
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "segments.add_segment",
        "segments.change_segment",
        "segments.delete_segment",
        "api.add_apikey",
        "api.change_apikey",
        "webhooks.add_webhooksubscription",
        "webhooks.change_webhooksubscription",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.change_crontabschedule",
        "django_celery_beat.add_crontabschedule",
    ],
}


def roles_ensure(apps, **kwargs) -> None:
    """Create every app's permissions, then the roles. Run by a migration (with its historical
    ``apps``) and after every ``migrate`` (with the project's), so a database flushed by tests or
    a model added later still has its roles."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        module = getattr(app_config, "models_module", None)
        app_config.models_module = module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = module
    roles_sync(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


def roles_sync(*, group_model, permission_model) -> None:
    """Create the groups and give each exactly the view permissions of the console's apps plus
    its own (run by a migration; running it again changes nothing)."""
    views = list(permission_model.objects.filter(content_type__app_label__in=APPS, codename__startswith="view_"))
    for name, codes in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        wanted = list(views)
        for code in codes:
            app_label, codename = code.split(".")
            # A model that a later migration creates has no permission yet in a migration's
            # historical state: the run after ``migrate`` gives it.
            wanted.extend(permission_model.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


def permission_require(actor, permission: str, action: str) -> None:
    """Refuse ``action`` to an actor without ``permission`` (None is the system: commands, schedules)."""
    if actor is not None and not actor.has_perm(permission):
        raise PermissionDenied(gettext("%(user)s may not %(action)s.") % {"user": actor.get_username(), "action": action})
