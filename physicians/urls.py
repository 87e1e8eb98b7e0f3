from django.urls import path

from physicians import views

urlpatterns = [
    path("auth/register", views.register),
    path("auth/login", views.login_view),
    path("auth/logout", views.logout_view),
    path("auth/ws-ticket", views.ws_ticket),
    path("auth/otp", views.otp_status),
    path("auth/otp/device", views.otp_device),
    path("auth/otp/confirm", views.otp_confirm),
    path("auth/otp/disable", views.otp_disable),
    path("auth/password", views.password_change),
    path("me", views.me),
    path("me/on-call-schedule", views.on_call_schedule),
    path("specialties", views.specialties),
    path("verifications", views.verification_queue),
    path("verifications/decided", views.verification_decided),
    path("verifications/<str:user_id>/<str:action>", views.verification_decide),
]
