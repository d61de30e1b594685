# Webmail gateway sessions (owned by the gateway work).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_otp")]

    operations: list = []
