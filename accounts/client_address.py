"""The browser's address and network: the one place that decides which address a request came from.

The audit log, the lockout, the password-reset limits, the CAPTCHA limits and the webmail sessions list
all take the address from here, so a header the browser made up is never shown or counted.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.http import HttpRequest


def _valid(address: str) -> bool:
    try:
        validate_ipv46_address(address)
    except ValidationError:
        return False
    return True


def client_ip(request: HttpRequest | None) -> str | None:
    """The browser's address: behind nginx (a peer in ``TRUSTED_PROXIES``) taken from X-Forwarded-For.

    gunicorn's REMOTE_ADDR is nginx itself; without this every sign-in failure would count against
    one address. Each nginx's ``$proxy_add_x_forwarded_for`` appends the peer it saw, so the entries are
    read from the right, past every trusted proxy (a webmail host's nginx in front of the portal's), and
    the first address that is not a trusted proxy is the browser's; entries further left are whatever the
    browser sent. Other headers (X-Real-IP) are never read.
    """
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR") or None
    if address not in settings.TRUSTED_PROXIES:
        return address
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        if not _valid(hop):
            break
        address = hop
        if hop not in settings.TRUSTED_PROXIES:
            break
    return address


def network_of(ip: str | None) -> str:
    """The client's network, e.g. ``192.0.2.0/24`` or ``2001:db8:1:2::/64`` (prefixes are settings); "" if none.

    Counting per network, not per address: one IPv6 customer has a /64 (or more) of fresh addresses, and
    an IPv4-mapped IPv6 address is the IPv4 address it carries.
    """
    if not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        prefix = settings.CLIENT_NETWORK_IPV4_PREFIX
    else:
        prefix = settings.CLIENT_NETWORK_IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
