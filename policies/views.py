from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.audit import client_ip, record, user_agent
from accounts.devices import hygiene
from accounts.models import Device, OrganisationSettings
from accounts.roles import Role, requires
from policies import dispatch, emails, library, monthly, summary
from policies.diffs import version_diff
from policies.forms import (
    AttestationForm,
    CampaignForm,
    CompletionForm,
    PolicyForm,
    ProcedureForm,
    PublishForm,
    SummaryTargetsForm,
)
from policies.models import (
    REVIEW_WINDOW_DAYS,
    AttestationAnswer,
    AttestationResponse,
    Campaign,
    Delivery,
    Policy,
    PolicyVersion,
    Procedure,
    due_for_review,
    organisation_zone,
)
from policies.services import device_hygiene_campaigns, my_policies, open_attestations
from portal.dates import format_day


def _get_policy_for_user(request: HttpRequest, pk: int) -> Policy:
    """IT staff see every policy; everyone else only published ones addressed to them (404 otherwise)."""
    qs = Policy.objects.select_related("current_version", "owner").prefetch_related("audience_departments")
    policy = get_object_or_404(qs, pk=pk)
    if request.user.can("manage_policies"):
        return policy
    if not policy.is_published or not policy.applies_to(request.user):
        raise Http404("No such policy")
    return policy


def _get_attestation_for_user(request: HttpRequest, pk: int) -> Campaign:
    campaign = get_object_or_404(Campaign, pk=pk, kind=Campaign.Kind.ATTESTATION)
    invited = campaign.deliveries.filter(recipient=request.user).exists()
    if not invited and not campaign.audience_users().filter(pk=request.user.pk).exists():
        raise Http404("No such attestation")
    return campaign


# --- Reading and acknowledging ---------------------------------------------------------------


@requires("read_policies")
def mine(request: HttpRequest) -> HttpResponse:
    rows = my_policies(request.user)
    ctx = {
        "rows": rows,
        "waiting": [r for r in rows if not r.acknowledged],
        "attestations": open_attestations(request.user),
    }
    return render(request, "policies/mine.html", ctx)


@requires("read_policies")
def read(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    version = policy.current_version
    ctx = {
        "policy": policy,
        "version": version,
        "acknowledgement": policy.acknowledgement_of(request.user) if version else None,
        "versions": policy.versions.only("number", "published_at", "note", "requires_acknowledgement"),
        "draft_html": policy.body_html() if version is None else None,
    }
    return render(request, "policies/read.html", ctx)


@require_POST
@requires("read_policies")
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    if not policy.is_published or policy.current_version is None:
        raise Http404("Only published policies can be acknowledged")
    if str(policy.current_version.number) != request.POST.get("version"):
        messages.warning(request, "The policy changed while you were reading it; please read the current version.")
        return redirect(policy)
    ack = policy.acknowledge(request.user, ip_address=client_ip(request), user_agent=user_agent(request))
    record("policy.acknowledged", request=request, target=policy, version=ack.version_number)
    messages.success(request, f"Thank you: you acknowledged version {ack.version_number} of “{policy.title}”.")
    return redirect("policies:mine")


@requires("read_policies")
def version(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    shown = get_object_or_404(PolicyVersion, policy=policy, number=number)
    ctx = {"policy": policy, "version": shown, "versions": policy.versions.only("number", "published_at", "note")}
    return render(request, "policies/version.html", ctx)


@requires("read_policies")
def diff(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    versions = {v.number: v for v in policy.versions.all()}
    try:
        old, new = versions[int(request.GET.get("from", 0))], versions[int(request.GET.get("to", 0))]
    except (KeyError, ValueError):
        raise Http404("Choose two versions of this policy") from None
    ctx = {"policy": policy, "old": old, "new": new, "lines": version_diff(old.body, new.body)}
    return render(request, "policies/diff.html", ctx)


# --- Managing policies -------------------------------------------------------------------------


@requires("manage_policies")
def manage(request: HttpRequest) -> HttpResponse:
    policies = Policy.objects.select_related("owner", "current_version").prefetch_related("audience_departments")
    ctx = {"policies": policies, "today": timezone.localdate(timezone=organisation_zone())}
    return render(request, "policies/manage.html", ctx)


@requires("manage_policies")
def create(request: HttpRequest) -> HttpResponse:
    form = PolicyForm(request.POST or None, initial={"owner": request.user.pk})
    if request.method == "POST" and form.is_valid():
        policy = form.save()
        messages.success(request, "Draft saved. Publish it when it is ready.")
        return redirect(policy)
    return render(request, "policies/edit.html", {"form": form})


@requires("manage_policies")
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    if policy.state == Policy.State.RETIRED:
        messages.error(request, "Retired policies are kept as they were; adopt a new one instead.")
        return redirect(policy)
    form = PolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        policy = form.save()
        note = "Changes saved as a draft; readers still see the published version." if policy.has_draft_changes else ""
        messages.success(request, note or "Saved.")
        return redirect(policy)
    return render(request, "policies/edit.html", {"form": form, "policy": policy})


@requires("manage_policies")
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    if policy.state == Policy.State.RETIRED:
        messages.error(request, "Retired policies are kept as they were; adopt a new one instead.")
        return redirect(policy)
    form = PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        version = policy.publish(
            by=request.user,
            require_acknowledgement=form.cleaned_data["require_acknowledgement"],
            note=form.cleaned_data["note"],
        )
        record(
            "policy.published",
            request=request,
            target=policy,
            version=version.number,
            requires_acknowledgement=version.requires_acknowledgement,
        )
        messages.success(request, f"Version {version.number} of “{policy.title}” is published.")
        return redirect(policy)
    ctx = {"policy": policy, "form": form, "preview": policy.body_html(), "first": policy.current_version is None}
    return render(request, "policies/publish.html", ctx)


@require_POST
@requires("manage_policies")
def retire(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    policy.retire()
    record("policy.retired", request=request, target=policy)
    messages.success(request, f"“{policy.title}” is retired: nobody is asked to acknowledge it any more.")
    return redirect("policies:manage")


@require_POST
@requires("manage_policies")
def reviewed(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _get_policy_for_user(request, pk)
    policy.mark_reviewed()
    record("policy.reviewed", request=request, target=policy)
    messages.success(request, f"Review recorded; the next is due on {format_day(policy.review_due_on)}.")
    if request.POST.get("back") == "reviews":
        return redirect("policies:reviews")
    return redirect(policy)


@requires("manage_policies")
def starter_library(request: HttpRequest) -> HttpResponse:
    adopted = set(Policy.objects.exclude(library_key="").values_list("library_key", flat=True))
    adopted_procedures = set(Procedure.objects.exclude(library_key="").values_list("library_key", flat=True))
    ctx = {
        "entries": library.POLICIES,
        "adopted": adopted,
        "procedures": library.PROCEDURES,
        "adopted_procedures": adopted_procedures,
    }
    return render(request, "policies/library.html", ctx)


@require_POST
@requires("manage_policies")
def adopt(request: HttpRequest, key: str) -> HttpResponse:
    entry = library.POLICIES_BY_KEY.get(key)
    if entry is None:
        raise Http404("No such starter policy")
    policy = library.adopt(entry, owner=request.user)
    messages.success(request, "Adopted as a draft: edit it to fit your organisation, then publish.")
    return redirect("policies:edit", pk=policy.pk)


@require_POST
@requires("manage_procedures")
def adopt_procedure(request: HttpRequest, key: str) -> HttpResponse:
    entry = library.PROCEDURES_BY_KEY.get(key)
    if entry is None:
        raise Http404("No such starter procedure")
    procedure = library.adopt_procedure(entry, owner=request.user)
    messages.success(request, "Adopted: adjust the steps and the interval to fit, then complete it when due.")
    return redirect("policies:procedure_edit", pk=procedure.pk)


@requires("manage_policies")
def reviews(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate(timezone=organisation_zone())
    policies, procedures = due_for_review(today)
    ctx = {"policies": policies, "procedures": procedures, "today": today, "window": REVIEW_WINDOW_DAYS}
    return render(request, "policies/reviews.html", ctx)


# --- Campaigns -----------------------------------------------------------------------------------


def _get_campaign(pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("policy"), pk=pk)


@requires("manage_campaigns")
def campaigns(request: HttpRequest) -> HttpResponse:
    counts = Count("deliveries", filter=Q(deliveries__status=Delivery.Status.SENT))
    failed = Count("deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED))
    uncertain = Count("deliveries", filter=Q(deliveries__status=Delivery.Status.UNCERTAIN))
    qs = (
        Campaign.objects.select_related("policy")
        .annotate(sent=counts, failed=failed, uncertain=uncertain)
        .order_by("-active", "name")
    )
    return render(request, "policies/campaigns.html", {"campaigns": qs})


@requires("manage_campaigns")
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, initial={"policy": request.GET.get("policy")})
    if request.method == "POST" and form.is_valid():
        form.instance.created_by = request.user
        campaign = form.save()
        messages.success(request, "Campaign saved.")
        return redirect(campaign)
    return render(request, "policies/campaign_edit.html", {"form": form})


@requires("manage_campaigns")
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Campaign saved.")
        return redirect(campaign)
    return render(request, "policies/campaign_edit.html", {"form": form, "campaign": campaign})


@requires("manage_campaigns")
def campaign(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
    by_status = dict(campaign.deliveries.values_list("status").annotate(n=Count("pk")).order_by())
    ctx = {
        "campaign": campaign,
        "by_status": {status: by_status.get(status, 0) for status in Delivery.Status.values},
        "runs": campaign.runs.annotate(
            sent=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.SENT)),
            uncertain=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.UNCERTAIN)),
        )[:12],
        "failed": campaign.deliveries.filter(status=Delivery.Status.FAILED).select_related("recipient")[:50],
        "uncertain": campaign.deliveries.filter(status=Delivery.Status.UNCERTAIN).select_related("recipient")[:50],
        "upcoming": campaign.schedule.upcoming(timezone.now()) if campaign.active else [],
        "audience_size": campaign.recipients().count(),
        "attestation": summary.attestation_results(campaign) if campaign.kind == Campaign.Kind.ATTESTATION else None,
        "zone": organisation_zone(),
    }
    return render(request, "policies/campaign.html", ctx)


@require_POST
@requires("manage_campaigns")
def campaign_send_now(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
    run = dispatch.send_now(campaign)
    record("campaign.send_now", request=request, target=campaign, run=run.pk)
    messages.success(request, "Queued: the worker is sending it now. Refresh to follow sent / pending / failed.")
    return redirect(campaign)


@require_POST
@requires("manage_campaigns")
def campaign_retry(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
    count = dispatch.retry_failed(campaign)
    record("campaign.retry_failed", request=request, target=campaign, deliveries=count)
    messages.success(request, f"{count} failed email{'s' if count != 1 else ''} queued again.")
    return redirect(campaign)


@require_POST
@requires("manage_campaigns")
def campaign_send_again(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
    count = dispatch.send_uncertain_again(campaign)
    record("campaign.sent_again", request=request, target=campaign, deliveries=count)
    messages.success(request, f"{count} email{'s' if count != 1 else ''} whose delivery was uncertain queued again.")
    return redirect(campaign)


@require_POST
@requires("manage_campaigns")
def campaign_test(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
    event = record("campaign.test_sent", request=request, target=campaign, to=request.user.email)
    emails.send_campaign_test(campaign, request.user, event)
    messages.success(
        request,
        f"A test is on its way to {request.user.email}; “Outgoing messages” shows when the mail server took it.",
    )
    return redirect(campaign)


@requires("read_policies")
def attest(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_attestation_for_user(request, pk)
    run = campaign.runs.first()
    existing = AttestationResponse.objects.filter(campaign=campaign, user=request.user, run=run).first()
    form = AttestationForm(request.POST or None, statements=campaign.statements.all())
    if request.method == "POST" and existing is None and form.is_valid():
        try:
            with transaction.atomic():
                response = AttestationResponse.objects.create(
                    campaign=campaign,
                    run=run,
                    user=request.user,
                    comment=form.cleaned_data["comment"],
                    ip_address=client_ip(request),
                )
                AttestationAnswer.objects.bulk_create(
                    AttestationAnswer(response=response, statement_id=sid, answer=answer)
                    for sid, answer in form.answers().items()
                )
        except IntegrityError:
            pass  # a double submit: the first one counts
        record("campaign.attested", request=request, target=campaign)
        if device_hygiene_campaigns().filter(pk=campaign.pk).exists():
            # The person's devices count as checked now (and a suspended certificate opens webmail again).
            hygiene.refresh([request.user])
        messages.success(request, "Thank you: your answers are recorded.")
        return redirect("policies:mine")
    ctx = {
        "campaign": campaign,
        "form": form,
        "existing": existing,
        "message_html": campaign.message_html(),
        "devices": Device.objects.usable().filter(user=request.user)
        if device_hygiene_campaigns().filter(pk=campaign.pk).exists()
        else [],
    }
    return render(request, "policies/attest.html", ctx)


# --- Procedures ----------------------------------------------------------------------------------


@requires("manage_procedures")
def procedures(request: HttpRequest) -> HttpResponse:
    latest = Prefetch("completions", to_attr="recent")
    qs = Procedure.objects.select_related("owner").prefetch_related(latest)
    ctx = {"procedures": qs, "today": timezone.localdate(timezone=organisation_zone())}
    return render(request, "policies/procedures.html", ctx)


@requires("manage_procedures")
def procedure_create(request: HttpRequest) -> HttpResponse:
    form = ProcedureForm(request.POST or None, initial={"owner": request.user.pk})
    if request.method == "POST" and form.is_valid():
        procedure = form.save()
        messages.success(request, "Procedure saved.")
        return redirect(procedure)
    return render(request, "policies/procedure_edit.html", {"form": form})


@requires("manage_procedures")
def procedure_edit(request: HttpRequest, pk: int) -> HttpResponse:
    procedure = get_object_or_404(Procedure, pk=pk)
    form = ProcedureForm(request.POST or None, instance=procedure)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Procedure saved.")
        return redirect(procedure)
    return render(request, "policies/procedure_edit.html", {"form": form, "procedure": procedure})


@requires("manage_procedures")
def procedure(request: HttpRequest, pk: int) -> HttpResponse:
    procedure = get_object_or_404(Procedure.objects.select_related("owner"), pk=pk)
    form = CompletionForm(request.POST or None, steps=procedure.steps.all())
    if request.method == "POST" and form.is_valid():
        completion = procedure.complete(by=request.user, ticked=form.ticked(), notes=form.cleaned_data["notes"])
        record("procedure.completed", request=request, target=procedure, all_steps=completion.all_done)
        messages.success(request, f"Completion recorded; next due {format_day(procedure.next_due_on)}.")
        return redirect(procedure)
    ctx = {
        "procedure": procedure,
        "form": form,
        "completions": procedure.completions.select_related("completed_by")[:20],
        "today": timezone.localdate(timezone=organisation_zone()),
    }
    return render(request, "policies/procedure.html", ctx)


# --- Executive summary ---------------------------------------------------------------------------


def _summary_page(request: HttpRequest, targets_form: SummaryTargetsForm | None = None) -> HttpResponse:
    data = summary.build()
    if targets_form is None and request.user.can("manage_policies"):
        targets_form = SummaryTargetsForm(instance=OrganisationSettings.load())
    ctx = {
        "s": data,
        "chart": summary.trend_chart(data.trend),
        "targets_form": targets_form,
        "amber_margin": summary.AMBER_MARGIN,
        "gets_monthly_email": request.user.role == Role.EXECUTIVE,
        "wants_monthly_email": monthly.wants_email(request.user),
    }
    return render(request, "policies/summary.html", ctx, status=400 if targets_form and targets_form.errors else 200)


@requires("view_summary")
def summary_page(request: HttpRequest) -> HttpResponse:
    return _summary_page(request)


@requires("manage_policies")
@require_POST
def summary_targets(request: HttpRequest) -> HttpResponse:
    """IT staff set the targets the summary's figures are measured against (audited)."""
    conf = OrganisationSettings.load()
    before = {name: getattr(conf, name) for name in SummaryTargetsForm.Meta.fields}
    form = SummaryTargetsForm(request.POST, instance=conf)
    if not form.is_valid():
        return _summary_page(request, form)
    form.save()
    after = {name: form.cleaned_data[name] for name in SummaryTargetsForm.Meta.fields}
    if after != before:
        record("policies.summary_targets_changed", actor=request.user, request=request, before=before, after=after)
    messages.success(request, "Targets saved.")
    return redirect("policies:summary")


@requires("view_summary")
@require_POST
def summary_email(request: HttpRequest) -> HttpResponse:
    """An executive stops or resumes their own monthly summary email (audited)."""
    if request.POST.get("monthly") == "on":
        monthly.opt_in(request.user, request=request, via="summary page")
        messages.success(request, "You will get this summary by email on the first of each month.")
    else:
        monthly.opt_out(request.user, request=request, via="summary page")
        messages.success(request, "You will no longer get the monthly summary email.")
    return redirect("policies:summary")


def summary_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The link at the bottom of the monthly email: works signed out (the signed token names the person);
    the page asks before it stops anything, so a mail scanner following links changes nothing."""
    person = monthly.user_of_token(token)
    if person is None:
        raise Http404("This link is not valid.")
    done = False
    if request.method == "POST":
        monthly.opt_out(person, request=request, via="email link")
        done = True
    ctx = {"person": person, "done": done, "opted_out": not monthly.wants_email(person)}
    return render(request, "policies/summary_unsubscribe.html", ctx)


@requires("view_summary")
def summary_csv(request: HttpRequest) -> HttpResponse:
    data = summary.build()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="security-summary-{data.today:%Y-%m-%d}.csv"'
    summary.write_csv(data, response)
    return response
