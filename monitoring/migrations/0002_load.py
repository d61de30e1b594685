# Server load and configuration drift models (owned by the load work).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations: list = []
