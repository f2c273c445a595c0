"""Sends observations to one instance through the official Python SDK, as an
agent would while the dashboard is open: argv = base_url key instance count.
Timestamps start an hour ahead, after any the dashboard's playground used."""
import sys
from datetime import datetime, timedelta, timezone

from identity_os_sdk import IdentityOS

base_url, key, instance, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = IdentityOS(api_key=key, base_url=base_url)
start = datetime.now(timezone.utc) + timedelta(hours=1)
for i in range(count):
    client.engine.process(
        instance,
        mode_target="exploration",
        signal_strength=0.3,
        timestamp=(start + timedelta(seconds=i)).isoformat(),
    )
print("sent", count)
