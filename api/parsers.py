"""JSON bodies of at most ``API_MAX_BODY_BYTES`` (413 beyond), NaN and Infinity refused."""

import io

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.parsers import JSONParser

from .problems import Problem


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise Problem(413, _("the request body is larger than %(n)s bytes") % {"n": f"{limit:,}"})
        return super().parse(io.BytesIO(data), media_type, parser_context)
