"""Drives the server through a proxy that loses the first reply of every
call (tests/it/retries.rs): the official SDK times out and retries. Every
observation must be recorded exactly once and no call may raise.

Usage: retry_through_proxy.py BASE_URL API_KEY INSTANCE_ID COUNT
Prints one JSON line: {"processed": N, "batches": M}.
"""

import json
import sys
from datetime import datetime, timedelta, timezone

from identity_os_sdk import IdentityOS

base_url, api_key, instance_id, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# A short timeout: the proxy holds a lost reply until the SDK gives up on it.
client = IdentityOS(api_key=api_key, base_url=base_url, timeout=1.0, max_retries=3)
origin = datetime(2027, 1, 1, tzinfo=timezone.utc)

for i in range(count):
    result = client.engine.process(
        instance_id,
        mode_target="exploration",
        signal_strength=0.5,
        timestamp=origin + timedelta(seconds=i),
        context={"call": i},
    )
    assert result.snapshot.cycle_count == i + 1, (i, result.snapshot.cycle_count)

batch = [
    {"mode_target": "order", "signal_strength": 0.4,
     "timestamp": (origin + timedelta(seconds=1000 + j)).isoformat()}
    for j in range(3)
]
results = client.engine.batch_process(instance_id, observations=batch)
assert results[-1].snapshot.cycle_count == count + 3, results[-1].snapshot.cycle_count
print(json.dumps({"processed": count, "batches": 1}))
