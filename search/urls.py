"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from django.urls import path

from search.api import (
    CollectionDetailView,
    CollectionDocumentsView,
    CollectionListView,
    DocumentDetailView,
    SearchView,
)

urlpatterns = [
    path("search", SearchView.as_view(), name="search"),
    path("collections", CollectionListView.as_view(), name="search-collections"),
    path("collections/<str:collection>", CollectionDetailView.as_view(), name="search-collection"),
    path("collections/<str:collection>/documents", CollectionDocumentsView.as_view(), name="search-documents"),
    path(
        "collections/<str:collection>/documents/<uuid:document_id>",
        DocumentDetailView.as_view(),
        name="search-document",
    ),
]
