"""Monitoring models, one module per area: DNS block lists, and server load with configuration drift."""

from monitoring.models.dnsbl import *  # noqa: F403
from monitoring.models.load import *  # noqa: F403
