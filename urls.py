from django.urls import include, path, re_path

from core.http import not_found
from gateway.openapi import openapi_json

urlpatterns = [
    path("api/v1/", include("physicians.urls")),
    path("api/v1/", include("rooms.urls")),
    path("api/v1/", include("consult.urls")),
    path("api/v1/adverse/", include("adverse.urls")),
    path("api/v1/openapi.json", openapi_json),  # gateway/openapi.py
    re_path(r"^api/", not_found),  # anything else under /api/: a JSON 404, not an HTML page
    path("", include("gateway.urls")),
    path("", include("frontend.urls")),
]
