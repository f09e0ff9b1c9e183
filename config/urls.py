from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from api import errors as api_errors

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]


def handler404(request, exception=None):
    """Unknown addresses: a problem document under /api/, the console's page elsewhere."""
    from django.views.defaults import page_not_found

    return api_errors.not_found(request, exception) if request.path.startswith("/api/") else page_not_found(request, exception)


def handler400(request, exception=None):
    from django.views.defaults import bad_request

    if request.path.startswith("/api/"):
        return api_errors.problem_response(400, str(exception) if exception else "the request is not valid")
    return bad_request(request, exception)


def handler500(request):
    from django.views.defaults import server_error

    return api_errors.server_error(request) if request.path.startswith("/api/") else server_error(request)
