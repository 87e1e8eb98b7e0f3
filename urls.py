from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("physicians.urls")),
    path("api/v1/", include("rooms.urls")),
    path("api/v1/", include("consult.urls")),
    path("", include("gateway.urls")),
    path("", include("frontend.urls")),
]
