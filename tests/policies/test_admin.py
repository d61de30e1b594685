from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model",
    ["policy", "acknowledgement", "campaign", "campaignrun", "delivery", "procedure",
     "procedurecompletion", "policysettings"],
)  # fmt: skip
def test_it_staff_open_every_policies_admin_list(client, login, it_staff, model):
    login(client, it_staff)
    assert client.get(f"/admin/policies/{model}/").status_code == 200


def test_a_published_policy_text_is_read_only_in_the_admin(client, login, it_staff, make_policy):
    from policies.models import Acknowledgement

    policy = make_policy()
    policy.acknowledge(it_staff, ip_address=None, user_agent="")
    login(client, it_staff)
    page = client.get(f"/admin/policies/policy/{policy.pk}/change/").content.decode()
    assert 'name="body"' not in page and 'name="owner"' in page
    ack = Acknowledgement.objects.get()
    assert client.post(f"/admin/policies/acknowledgement/{ack.pk}/delete/", {"post": "yes"}).status_code == 403
