"""Runs the scim2-tester conformance checker against a running scim-host.

Usage: check.py BASE_URL TOKEN [MINIMUM]

Prints every check, and exits non-zero when any result is other than SUCCESS (SKIPPED
included) or when fewer than MINIMUM checks ran.
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    minimum = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    failures = 0
    for result in results:
        ok = result.status == Status.SUCCESS
        failures += not ok
        line = f"{result.status.name:<10} {result.resource_type or '-':<6} {result.title}"
        if not ok:
            line += f"\n           reason: {result.reason}"
        print(line)
    counts = {}
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
    print(f"{base_url}: {len(results)} checks: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if len(results) < minimum:
        print(f"only {len(results)} checks ran; at least {minimum} expected")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
