from django.urls import path

from consult import views

urlpatterns = [
    path("cases", views.cases),
    path("cases/<str:case_id>", views.case_detail),
    path("cases/<str:case_id>/withdraw", views.case_withdraw),
    path("cases/<str:case_id>/resolve", views.case_resolve),
    path("cases/<str:case_id>/close", views.case_close),
    path("cases/<str:case_id>/reopen", views.case_reopen),
    path("cases/<str:case_id>/handoff", views.case_handoff),
    path("cases/<str:case_id>/invite", views.case_invite),
    path("cases/<str:case_id>/publish", views.case_publish),
    path("cases/<str:case_id>/images", views.case_image),
    path("cases/<str:case_id>/second-specialty", views.case_second),
    path("dashboard", views.dashboard),
    path("search", views.search_view),
    path("alerts/<str:token>", views.offer_alert),
    path("alerts/<str:token>/accept", views.offer_alert_accept),
    path("cases/<str:case_id>/polls", views.case_polls),
    path("polls/<str:poll_id>", views.poll_detail),
    path("polls/<str:poll_id>/vote", views.poll_vote),
    path("polls/<str:poll_id>/close", views.poll_close),
    path("polls/<str:poll_id>/results.csv", views.poll_results_csv),
    path("polls/<str:poll_id>/chart.svg", views.poll_results_chart),
    path("opinion-polls", views.opinion_poll_collection),
]
