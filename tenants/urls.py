from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import ServiceTokenView, TenantConfigView, WorkspacesIncludingPublicViewSet

router = SimpleRouter(trailing_slash=False)
router.register("workspaces", WorkspacesIncludingPublicViewSet, basename="workspace")

urlpatterns = [
    path("tenant-config", TenantConfigView.as_view(), name="tenant-config"),
    path("tenant-config/service-tokens/<str:provider>", ServiceTokenView.as_view(), name="service-token"),
    *router.urls,
]
