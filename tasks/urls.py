"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

urlpatterns: list = []
