from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("consult.urls")),
    path("api/v1/", include("rooms.urls")),
    path("", include("frontend.urls")),
]
