"""Devices: a person's laptops, phones and tablets, their client certificates, and the portal's small CA.

- ``ca``: the devices CA (created on first use, key encrypted at rest, rotation), CRLs and the files nginx reads.
- ``issuing``: issuing a certificate as a PKCS#12 file behind a one-time password, its download, revocation,
  suspension and the renewal reminders.
- ``inventory``: adding and revoking devices, and what IT staff see across the organisation.
- ``gate``: the certificate nginx verified (headers it sets) against the person's certificates, for
  ``/gateway/auth`` and the portal's own pages.
- ``hygiene``: the device-hygiene attestations (reported by the policies app) on each device.

docs/devices.md explains the whole for operators.
"""
