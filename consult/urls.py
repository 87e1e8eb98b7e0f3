from django.urls import path

from consult import views

urlpatterns = [
    path("cases", views.case_create),
    path("cases/<str:case_id>", views.case_detail),
    path("cases/<str:case_id>/withdraw", views.case_withdraw),
]
