"""URLs: a landing page (`/`), the operator admin, the API under /api/v1/, and its OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularSwaggerView

from mcpadmin.api.health import health
from mcpadmin.api.observability import metrics_view
from mcpadmin.api.schema import SchemaView

api_v1 = [
    path("health", health, name="health"),
    path("", include("apikeys.urls")),
    path("", include("tenants.urls")),
    path("", include("agents.urls")),
    path("", include("workspaces.urls")),
    path("", include("tasks.urls")),
    path("", include("workflows.urls")),
    path("", include("search.urls")),
    path("", include("audit.urls")),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="landing.html"), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("metrics", metrics_view, name="metrics"),
]

handler404 = "mcpadmin.api.errors.json_or_html_404"
handler500 = "mcpadmin.api.errors.json_or_html_500"
