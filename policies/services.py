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
