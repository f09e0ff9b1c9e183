"""The largest file anyone may upload (``UPLOAD_MAX_BYTES``): an upload beyond it is stopped while
it arrives, before it reaches the disk, and the page that took it says so in a sentence."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _

REFUSED = "_upload_refused"


class UploadLimitHandler(FileUploadHandler):
    """First of ``FILE_UPLOAD_HANDLERS``: counts what arrives of each file and stops the upload
    (the rest of the request is read and dropped) once one is larger than ``UPLOAD_MAX_BYTES``."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_BYTES:
            setattr(self.request, REFUSED, self.file_name)
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler keeps the file


def upload_refusal(request) -> str | None:
    """The sentence for an upload that was too large to take, or None."""
    name = getattr(request, REFUSED, None)
    if name is None:
        return None
    limit = settings.UPLOAD_MAX_BYTES
    size = f"{limit / 1024 / 1024:,.0f} MB" if limit >= 1024 * 1024 else f"{limit / 1024:,.0f} KB"
    return _("%(name)s is larger than the %(limit)s an upload may be: split the file, or import it with the command on the server.") % {
        "name": name, "limit": size,
    }


class UploadLimitMiddleware:
    """Reads a multipart request's files first, through ``UploadLimitHandler``; an upload that was
    too large goes back to the page it came from, which shows why (every upload page alike)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.content_type == "multipart/form-data":
            request.FILES  # noqa: B018 - parses the upload now, through the handlers
            refusal = upload_refusal(request)
            if refusal:
                messages.error(request, refusal)
                return HttpResponseRedirect(request.get_full_path())
        return self.get_response(request)
