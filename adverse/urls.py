from django.urls import path

from adverse import views

urlpatterns = [
    path("reports", views.reports),
    path("reports/<str:report_id>", views.report_detail),
    path("vocabulary", views.vocabulary),
    path("pairs", views.pairs),
    path("pairs/series", views.pair_series),
    path("pairs/chart.svg", views.pair_chart),
    path("signals", views.signals_weekly),
    path("alerts", views.alerts),
    path("alerts/<int:alert_id>/read", views.alert_read),
    path("export/reports.csv", views.export_reports),
    path("export/pairs.csv", views.export_pairs),
]
