from __future__ import annotations

from django import template

from policies.services import waiting_count

register = template.Library()


@register.simple_tag(takes_context=True)
def policies_waiting(context) -> int:
    """How many policies (and attestations) wait for the signed-in user: the count in the navigation."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    if not hasattr(request, "_policies_waiting"):
        request._policies_waiting = waiting_count(user)
    return request._policies_waiting
