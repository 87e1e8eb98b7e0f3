from django.urls import path

from frontend import views

urlpatterns = [
    path("", views.index, name="frontend-index"),
    path("adverse", views.adverse_page, name="frontend-adverse"),
    # Only this app's files: other apps' static files are not part of the client.
    path("static/frontend/<path:path>", views.static_file, name="frontend-static"),
    # A mailed urgent-offer link (consult/alerts.py LINK_PATH).
    path("alerts/<str:token>", views.alert_page, name="frontend-alert"),
    # A poll's results page with its chart (consult/poll_export.py draws the chart).
    path("polls/<str:poll_id>", views.poll_page, name="frontend-poll"),
]
