# OTP, backup codes, invitations, lockout (owned by the accounts work).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_audit_event")]

    operations: list = []
