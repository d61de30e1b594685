from __future__ import annotations

app_name = "policies"

urlpatterns: list = []
