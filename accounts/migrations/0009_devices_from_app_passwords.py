"""One device per existing app password, so that every app password belongs to a device.

The device takes the app password's name, owner and creation time; its kind and platform are guessed
from the name ("iPhone Mail" -> phone, Apple), which the owner can correct. A revoked app password gets a
revoked device, so the devices list shows no machine that stopped getting mail long ago. The rules are
frozen here (no live code is imported).
"""

from django.db import migrations

KINDS = [("tablet", ("ipad", "tablet", "galaxy tab")), ("phone", ("phone", "iphone", "android", "pixel", "mobile"))]
PLATFORMS = [
    ("apple", ("iphone", "ipad", "mac", "apple")),
    ("android", ("android", "pixel", "galaxy", "samsung")),
    ("windows", ("windows", "outlook", "surface")),
    ("linux", ("linux", "ubuntu", "debian")),
]


def guess(name, table, default):
    lowered = name.lower()
    for value, words in table:
        if any(word in lowered for word in words):
            return value
    return default


def forwards(apps, schema_editor):
    AppPassword = apps.get_model("accounts", "AppPassword")
    Device = apps.get_model("accounts", "Device")
    for app_password in AppPassword.objects.filter(device__isnull=True).order_by("pk").iterator():
        revoked = app_password.state == "revoked"
        device = Device.objects.create(
            user_id=app_password.user_id,
            name=app_password.name[:64],
            kind=guess(app_password.name, KINDS, "laptop"),
            platform=guess(app_password.name, PLATFORMS, "other"),
            state="revoked" if revoked else "active",
            created_at=app_password.created_at,
            revoked_at=app_password.revoked_at if revoked else None,
            revoked_by_id=app_password.revoked_by_id if revoked else None,
            revoked_reason={"owner": "owner", "deactivated": "deactivated"}.get(app_password.revoked_reason, "it_staff")
            if revoked
            else "",
        )
        AppPassword.objects.filter(pk=app_password.pk).update(device=device)


def backwards(apps, schema_editor):
    apps.get_model("accounts", "AppPassword").objects.update(device=None)
    apps.get_model("accounts", "Device").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_devices")]

    operations = [migrations.RunPython(forwards, backwards)]
