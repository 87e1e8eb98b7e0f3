from django.urls import path

from gateway import health

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
]
