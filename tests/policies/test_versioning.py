from __future__ import annotations

import pytest

from policies.diffs import version_diff
from policies.models import Acknowledgement, ImmutableRowError, Policy
from policies.services import my_policies

pytestmark = pytest.mark.django_db


def test_publishing_creates_numbered_versions(make_policy, it_staff):
    policy = make_policy(publish=False)
    assert policy.state == Policy.State.DRAFT and policy.current_version is None
    first = policy.publish(by=it_staff, require_acknowledgement=False)
    assert first.number == 1 and first.requires_acknowledgement  # the first version always needs it
    policy.edit(title=policy.title, summary=policy.summary, body="Use webmail **over HTTPS**.")
    second = policy.publish(by=it_staff, require_acknowledgement=True, note="HTTPS")
    assert second.number == 2 and policy.current_version == second
    assert "<strong>over HTTPS</strong>" in second.body_html
    assert policy.versions.get(number=1).body == "Use **webmail**."  # earlier versions stay readable
    assert policy.review_due_on is not None


def test_editing_a_published_policy_makes_a_draft_not_a_version(make_policy):
    policy = make_policy()
    policy.edit(title="New title", summary=policy.summary, body="Changed.")
    policy.save()
    policy.refresh_from_db()
    assert policy.has_draft_changes
    assert policy.current_version.title == "Remote access"
    assert policy.versions.count() == 1


def test_a_new_version_that_needs_acknowledgement_asks_everyone_again(make_policy, employee):
    policy = make_policy()
    policy.acknowledge(employee, ip_address="192.0.2.1", user_agent="Firefox")
    assert my_policies(employee)[0].acknowledged
    policy.edit(title=policy.title, summary=policy.summary, body="New rule.")
    policy.publish(by=None, require_acknowledgement=True)
    row = my_policies(employee)[0]
    assert not row.acknowledged and row.earlier_acknowledged


def test_a_correction_without_reacknowledgement_keeps_earlier_acknowledgements(make_policy, employee):
    policy = make_policy()
    policy.acknowledge(employee, ip_address=None, user_agent="")
    policy.edit(title=policy.title, summary=policy.summary, body="Typo fixed.")
    policy.publish(by=None, require_acknowledgement=False)
    assert policy.acknowledge_from_version == 1
    assert my_policies(employee)[0].acknowledged


def test_an_acknowledgement_records_who_what_when_and_cannot_be_edited(make_policy, employee):
    policy = make_policy()
    ack = policy.acknowledge(employee, ip_address="192.0.2.7", user_agent="Mozilla/5.0")
    assert (ack.user, ack.version_number, ack.ip_address, ack.user_agent) == (employee, 1, "192.0.2.7", "Mozilla/5.0")
    assert ack.acknowledged_at is not None
    ack.ip_address = "203.0.113.1"
    with pytest.raises(ImmutableRowError):
        ack.save()
    again = policy.acknowledge(employee, ip_address="203.0.113.1", user_agent="other")
    assert again.pk == ack.pk and Acknowledgement.objects.count() == 1


def test_a_retired_policy_cannot_be_published_again(make_policy):
    from django.core.exceptions import ValidationError

    policy = make_policy()
    policy.retire()
    with pytest.raises(ValidationError):
        policy.publish(by=None, require_acknowledgement=True)


def test_audience_by_role_and_department(make_policy, make_user, employee, executive, it_staff):
    from accounts.models import Department

    sales = Department.objects.get(name="Sales")
    for_everyone = make_policy("Everyone")
    for_execs = make_policy("Executives", audience_roles=["executive"])
    for_sales = make_policy("Sales", audience_departments=[sales])
    for_sales_execs = make_policy("Sales executives", audience_roles=["executive"], audience_departments=[sales])
    sales_exec = make_user("sam@example.com", role="executive", department="Sales")
    assert set(for_everyone.audience_users()) == {employee, executive, it_staff, sales_exec}
    assert set(for_execs.audience_users()) == {executive, sales_exec}
    assert set(for_sales.audience_users()) == {employee, sales_exec}
    assert set(for_sales_execs.audience_users()) == {sales_exec}
    assert [r.policy.title for r in my_policies(employee)] == ["Everyone", "Sales"]
    assert for_sales_execs.audience_label() == "Executive in Sales"


def test_the_diff_lists_added_and_removed_lines():
    lines = version_diff("a\nb\nc\n", "a\nB\nc\nd\n")
    kinds = [(line.kind, line.text) for line in lines]
    assert ("removed", "b") in kinds and ("added", "B") in kinds and ("added", "d") in kinds
    assert version_diff("same", "same") == []
