from __future__ import annotations

from django.urls import path

from monitoring.sending import views

app_name = "sending"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("top-senders/", views.top_senders, name="top_senders"),
    path("settings/", views.sending_settings, name="settings"),
    path("people/<int:pk>/", views.person, name="person"),
    path("people/<int:pk>/aliases/<int:alias_pk>/delete/", views.alias_delete, name="alias_delete"),
    path("people/<int:pk>/suspend/", views.suspend, name="suspend"),
    path("people/<int:pk>/lift/", views.lift, name="lift"),
    path("shared-mailboxes/", views.shared_mailboxes, name="shared_mailboxes"),
    path("shared-mailboxes/<int:pk>/", views.shared_mailbox, name="shared_mailbox"),
    path("shared-mailboxes/<int:pk>/delete/", views.shared_mailbox_delete, name="shared_mailbox_delete"),
]
