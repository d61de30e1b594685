import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0009_devices_from_app_passwords")]

    operations = [
        migrations.AlterField(
            model_name="apppassword",
            name="device",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="app_passwords", to="accounts.device"
            ),
        ),
    ]
