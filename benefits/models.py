"""The benefit catalog: what each level of a program entitles a member to."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from membership.models import Level, Program


class Benefit(models.Model):
    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        PRIVILEGE = "privilege", _("Privilege or service")
        GIFT = "gift", _("Gift")
        BADGE = "badge", _("Badge")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="benefits", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("type"), max_length=12, choices=Kind.choices)
    description = models.TextField(_("description"), blank=True)
    min_level = models.ForeignKey(
        Level, on_delete=models.PROTECT, related_name="+", verbose_name=_("from level"),
        help_text=_("Members at this level and above enjoy the benefit."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["program", "min_level__rank", "code"]
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="benefit_code_unique_per_program")]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.min_level_id and self.program_id and self.min_level.program_id != self.program_id:
            raise ValidationError({"min_level": _("The level must belong to the benefit's program.")})
