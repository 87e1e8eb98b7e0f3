from django.urls import path

from gateway import health, metrics_view

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics_view.metrics_view),
]
