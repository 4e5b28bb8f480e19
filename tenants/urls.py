"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from django.urls import path

from tenants.api import ServiceTokenView, TenantConfigView

urlpatterns = [
    path("tenant-config", TenantConfigView.as_view(), name="tenant-config"),
    path("tenant-config/service-tokens/<str:provider>", ServiceTokenView.as_view(), name="service-token"),
]
