from django.urls import path

from rooms import attachment_views

urlpatterns = [
    path("rooms/<str:room_id>/attachments", attachment_views.attachment_upload),
    path("attachments/<uuid:attachment_id>", attachment_views.attachment_download),
]
