from __future__ import annotations

from django.urls import path

from portal import message_views as views

app_name = "outbox"

urlpatterns = [
    path("", views.message_list, name="messages"),
    path("<int:pk>/retry/", views.message_retry, name="message_retry"),
    path("channels/", views.channel_list, name="channels"),
    path("channels/new/", views.channel_add, name="channel_add"),
    path("channels/<int:pk>/", views.channel_edit, name="channel_edit"),
    path("channels/<int:pk>/delete/", views.channel_delete, name="channel_delete"),
    path("channels/<int:pk>/toggle/", views.channel_toggle, name="channel_toggle"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel_test"),
]
