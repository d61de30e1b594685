from __future__ import annotations

from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    # Everyone: policies addressed to them.
    path("", views.mine, name="mine"),
    path("<int:pk>/", views.read, name="read"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/v<int:number>/", views.version, name="version"),
    path("<int:pk>/diff/", views.diff, name="diff"),
    path("attest/<int:pk>/", views.attest, name="attest"),
    # IT staff: writing and publishing.
    path("manage/", views.manage, name="manage"),
    path("manage/new/", views.create, name="create"),
    path("manage/<int:pk>/edit/", views.edit, name="edit"),
    path("manage/<int:pk>/publish/", views.publish, name="publish"),
    path("manage/<int:pk>/retire/", views.retire, name="retire"),
    path("manage/<int:pk>/reviewed/", views.reviewed, name="reviewed"),
    path("manage/library/", views.starter_library, name="library"),
    path("manage/library/<slug:key>/adopt/", views.adopt, name="adopt"),
    path("manage/library/procedures/<slug:key>/adopt/", views.adopt_procedure, name="adopt_procedure"),
    path("reviews/", views.reviews, name="reviews"),
    # IT staff: campaigns.
    path("campaigns/", views.campaigns, name="campaigns"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign, name="campaign"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/send-now/", views.campaign_send_now, name="campaign_send_now"),
    path("campaigns/<int:pk>/retry/", views.campaign_retry, name="campaign_retry"),
    path("campaigns/<int:pk>/send-again/", views.campaign_send_again, name="campaign_send_again"),
    path("campaigns/<int:pk>/test/", views.campaign_test, name="campaign_test"),
    # IT staff: maintenance procedures.
    path("procedures/", views.procedures, name="procedures"),
    path("procedures/new/", views.procedure_create, name="procedure_create"),
    path("procedures/<int:pk>/", views.procedure, name="procedure"),
    path("procedures/<int:pk>/edit/", views.procedure_edit, name="procedure_edit"),
    # Executives and IT staff.
    path("summary/", views.summary_page, name="summary"),
    path("summary.csv", views.summary_csv, name="summary_csv"),
    path("summary/email/", views.summary_email, name="summary_email"),
    # Anyone with the signed link from a monthly summary email (the token names the person).
    path("summary/email/stop/<str:token>/", views.summary_unsubscribe, name="summary_unsubscribe"),
    # IT staff: the targets the summary measures against.
    path("summary/targets/", views.summary_targets, name="summary_targets"),
]
