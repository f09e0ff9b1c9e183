from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = _("Member lists")

    def ready(self):
        from membership import hooks

        from .admin import add_to_member_list
        from .sections import member_segments_render
        from .selectors import segment_known, segment_member_q, segments_choices
        from .services import segment_members_import_job

        @hooks.member_condition_family("segment", choices=segments_choices, known=segment_known)
        def segment_condition(*, code, program, day):
            return segment_member_q(code=code, program=program)

        hooks.member_section("segments", title=_("Member lists"), order=70)(member_segments_render)
        hooks.member_admin_action(add_to_member_list)
        hooks.import_kind("segment", label=_("Member list"), permission="segments.change_segment", on_job_page=False)(segment_members_import_job)
