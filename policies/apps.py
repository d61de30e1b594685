from __future__ import annotations

from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Policies"

    def ready(self) -> None:
        from accounts.devices import hygiene
        from policies.services import device_hygiene_facts

        # Accounts shows each device's last hygiene attestation but must not import policies: it is told.
        hygiene.register_source(device_hygiene_facts)
