"""The devices CA from the command line (docs/devices.md).

python manage.py device_ca status        # the CAs, their CRLs and the files nginx reads
python manage.py device_ca files         # create the CA if there is none, sign CRLs, write the files
python manage.py device_ca rotate        # a new CA issues; the current one stays trusted (retiring)
python manage.py device_ca retire        # stop trusting the retiring CA (its certificates are revoked)
python manage.py device_ca rule ROLE none|webmail|portal   # e.g. to let IT staff in again
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import audit
from accounts.devices import ca
from accounts.models import DeviceCA, DeviceSettings
from accounts.roles import Role


class Command(BaseCommand):
    help = "Show, set up, rotate or retire the devices CA; change who needs a company certificate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "files", "rotate", "retire", "rule"])
        parser.add_argument("args", nargs="*", help="for rule: ROLE and none, webmail or portal")

    def handle(self, *args: object, **options) -> None:
        action = options["action"]
        try:
            if action == "files":
                created = ca.active_ca(create=False) is None
                authority = ca.active_ca()
                report = ca.refresh_crls()
                self.stdout.write(f"{'Created' if created else 'Using'} “{authority.name}”; {report}")
            elif action == "rotate":
                self.stdout.write(f"“{ca.rotate().name}” issues from now on. Reload nginx.")
            elif action == "retire":
                retiring = DeviceCA.objects.filter(state=DeviceCA.State.RETIRING).first()
                if retiring is None:
                    raise CommandError("No CA is retiring (rotate first).")
                self.stdout.write(f"Retired “{retiring.name}”; {ca.retire(retiring)} certificate(s) revoked.")
            elif action == "rule":
                self._rule(*options["args"])
        except ca.CAUnavailable as exc:
            raise CommandError(str(exc)) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if action in ("status", "files", "rotate", "retire"):
            self._status()

    def _rule(self, role: str = "", rule: str = "", *rest: str) -> None:
        if rest or role not in Role.values or rule not in DeviceSettings.Rule.values:
            raise CommandError(
                f"usage: device_ca rule {{{','.join(Role.values)}}} {{{','.join(DeviceSettings.Rule.values)}}}"
            )
        settings_row = DeviceSettings.load()
        setattr(settings_row, f"certificate_{role}", rule)
        settings_row.save()
        audit.record("settings.devices_changed", target="organisation", via="device_ca command", **{role: rule})
        self.stdout.write(f"{Role(role).label}: {DeviceSettings.Rule(rule).label}.")

    def _status(self) -> None:
        report = ca.status()
        for authority in report["cas"]:
            crl = "no CRL"
            if authority.crl_next_update:
                crl = f"CRL no. {authority.crl_number} valid until {authority.crl_next_update:%Y-%m-%d %H:%M}"
            self.stdout.write(
                f"{authority.name}: {authority.state}, {authority.key_type}, until {authority.not_after:%Y-%m-%d}, "
                f"{authority.usable_certificates} certificate(s) in use, {crl}"
            )
        for file in report["files"]:
            changed = file["changed_at"]
            self.stdout.write(f"{file['path']}: " + (f"written {changed:%Y-%m-%d %H:%M}" if changed else "not written"))
