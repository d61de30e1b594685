"""What is waiting for one person: the policies addressed to them and open attestations."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Max

from policies.models import Acknowledgement, AttestationResponse, Campaign, CampaignRun, Delivery, Policy


@dataclass
class MyPolicy:
    policy: Policy
    acknowledged_version: int  # 0 when never acknowledged

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_version >= self.policy.acknowledge_from_version

    @property
    def earlier_acknowledged(self) -> bool:
        """Acknowledged an older version, but a newer one needs acknowledging again."""
        return 0 < self.acknowledged_version < self.policy.acknowledge_from_version


def my_policies(user) -> list[MyPolicy]:
    """Published policies addressed to ``user``, unacknowledged first; three queries whatever the counts."""
    published = (
        Policy.objects.filter(state=Policy.State.PUBLISHED)
        .select_related("current_version")
        .prefetch_related("audience_departments")
    )
    acknowledged = dict(
        Acknowledgement.objects.filter(user=user)
        .values("policy_id")
        .annotate(latest=Max("version_number"))
        .values_list("policy_id", "latest")
    )
    rows = [MyPolicy(p, acknowledged.get(p.pk, 0)) for p in published if p.applies_to(user)]
    rows.sort(key=lambda row: (row.acknowledged, row.policy.title))
    return rows


def open_attestations(user) -> list[Campaign]:
    """Attestation campaigns whose latest run reached ``user`` and that they have not answered yet."""
    latest_runs = {}
    for run in CampaignRun.objects.filter(
        campaign__kind=Campaign.Kind.ATTESTATION, campaign__active=True, deliveries__recipient=user
    ).select_related("campaign"):
        current = latest_runs.get(run.campaign_id)
        if current is None or run.occurrence > current.occurrence:
            latest_runs[run.campaign_id] = run
    answered = set(
        AttestationResponse.objects.filter(user=user, run__in=list(latest_runs.values())).values_list(
            "run_id", flat=True
        )
    )
    return [run.campaign for run in latest_runs.values() if run.pk not in answered]


def waiting_count(user) -> int:
    policies = sum(1 for row in my_policies(user) if not row.acknowledged)
    has_attestations = Delivery.objects.filter(recipient=user, campaign__kind=Campaign.Kind.ATTESTATION).exists()
    return policies + (len(open_attestations(user)) if has_attestations else 0)


def device_hygiene_campaigns():
    """Attestation campaigns about laptops and phones: those whose policy is in the "devices" category."""
    return Campaign.objects.filter(kind=Campaign.Kind.ATTESTATION, policy__category=Policy.Category.DEVICES)


def device_hygiene_facts(user_ids=None) -> dict:
    """Per person: their last device-hygiene answer, and since when one that reached them is unanswered.

    Registered with ``accounts.devices.hygiene`` (which accounts cannot import from here) in
    ``PoliciesConfig.ready()``. "Unanswered" looks at the latest run of each active campaign, as
    ``open_attestations`` does. Three queries, whatever the number of people."""
    from accounts.devices.hygiene import HygieneFacts

    campaigns = device_hygiene_campaigns()
    responses = AttestationResponse.objects.filter(campaign__in=campaigns)
    deliveries = Delivery.objects.filter(campaign__in=campaigns.filter(active=True))
    if user_ids is not None:
        responses = responses.filter(user_id__in=list(user_ids))
        deliveries = deliveries.filter(recipient_id__in=list(user_ids))
    last: dict[int, AttestationResponse] = {}
    answered_runs: set[tuple[int, int]] = set()
    for response in responses.select_related("campaign").prefetch_related("answers").order_by("submitted_at"):
        last[response.user_id] = response
        if response.run_id:
            answered_runs.add((response.user_id, response.run_id))
    latest_runs: dict[tuple[int, int], CampaignRun] = {}
    for delivery in deliveries.select_related("run"):
        key = (delivery.recipient_id, delivery.campaign_id)
        if key not in latest_runs or delivery.run.occurrence > latest_runs[key].occurrence:
            latest_runs[key] = delivery.run
    pending: dict[int, object] = {}
    for (user_id, _campaign_id), run in latest_runs.items():
        if (user_id, run.pk) not in answered_runs:
            pending[user_id] = min(run.occurrence, pending.get(user_id, run.occurrence))
    facts = {}
    for user_id in set(last) | set(pending):
        response = last.get(user_id)
        summary = ""
        if response is not None:
            answers = [answer.answer for answer in response.answers.all()]
            noes = answers.count(False)
            summary = f"{response.campaign.name}: " + ("all yes" if not noes else f"{noes} “no”")
        facts[user_id] = HygieneFacts(
            last_answer_at=response.submitted_at if response else None,
            last_answer=summary,
            pending_since=pending.get(user_id),
        )
    return facts
