"""Member lists (segments): members named one by one, uploaded as CSV, that rules and campaigns
can be limited to (the condition ``segment:CODE``).

A list's members change only by uploads, each kept with who made it, why, and what it changed.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from membership.models import Member, Program


class Segment(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="segments", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=40, help_text=_("Rules and campaigns name it as segment:CODE."))
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, help_text=_("Who is on it and where the list came from."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+", verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("member list")
        verbose_name_plural = _("member lists")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="segment_code_unique_per_program")]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def condition(self) -> str:
        return f"segment:{self.code}"


class SegmentMember(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members", verbose_name=_("member list"))
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", verbose_name=_("member"))
    upload = models.ForeignKey("SegmentUpload", on_delete=models.RESTRICT, related_name="+", verbose_name=_("added by the upload"))

    class Meta:
        verbose_name = _("member on a list")
        verbose_name_plural = _("members on lists")
        constraints = [models.UniqueConstraint(fields=["segment", "member"], name="segment_member_once")]
        indexes = [models.Index(fields=["member"], name="segment_member_member")]


class SegmentUpload(models.Model):
    """One upload of a list's members: who, why, the file, and what it changed."""

    class Mode(models.TextChoices):
        ADD = "add", _("Add the file's members")
        REMOVE = "remove", _("Take the file's members off")
        REPLACE = "replace", _("Make the list the file's members")

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="uploads", verbose_name=_("member list"))
    mode = models.CharField(_("what it did"), max_length=10, choices=Mode.choices)
    file_name = models.CharField(_("file"), max_length=255)
    reason = models.CharField(_("reason"), max_length=255)
    read = models.PositiveIntegerField(_("rows read"), default=0)
    added = models.PositiveIntegerField(_("added"), default=0)
    removed = models.PositiveIntegerField(_("taken off"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("member list upload")
        verbose_name_plural = _("member list uploads")
        ordering = ["-at", "-pk"]
