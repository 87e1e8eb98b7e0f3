from django.urls import path

from rooms import attachment_views

urlpatterns = [
    path("rooms/<str:room_id>/attachments", attachment_views.attachment_upload),
    path("attachments/<uuid:attachment_id>", attachment_views.attachment_download),
]

from rooms import mod_views  # noqa: E402  (moderation queue)

urlpatterns += [
    path("moderation/reports", mod_views.reports),
    path("moderation/reports/<int:report_id>/resolve", mod_views.report_resolve),
    path("moderation/rooms/<str:room_id>/messages/<int:seq>/revisions", mod_views.message_revisions),
    path("moderation/phi-confirmations", mod_views.phi_confirmations),
]
