#!/usr/bin/env python3
"""Memory and first-request latency of many realms on the bundled module.

Starts `scim-host serve --demo` (release build) on a fresh data directory, creates realms
through the admin API up to each checkpoint, issues a token for each, sends each new
realm its first SCIM request (timed), and reads the server's resident memory (VmRSS) at
1, 100 and 1,000 realms. Prints a Markdown table. Standard library only.

    python3 bench/scripts/realms.py [--binary target/release/scim-host] [--checkpoints 1,100,1000]

The load harness (bench/harness.py) calls `measure` for its realms table.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ADMIN = "bench-admin-token"


def call(origin, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(origin + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None


def rss_mib(pid, field="VmRSS"):
    """Resident memory of the process in MiB; `field="RssFile"` gives the part of it that
    is files mapped (the server's code, the database pages read through SQLite's map)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def measure(binary, checkpoints, port=None):
    """RSS and first-request latency at each checkpoint: {"base_rss_mib", "rows": [...]}."""
    port = port or free_port()
    origin = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, SCIM_HOST_DEMO_ADMIN_TOKEN=ADMIN, SCIM_HOST_DEMO_TOKEN="bench-realm-token",
                   RUST_LOG="warn")
        server = subprocess.Popen(
            [binary, "serve", "--demo", "--listen", f"127.0.0.1:{port}", "--data-dir", data],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    call(origin, "GET", "/healthz", ADMIN)
                    break
                except Exception:
                    time.sleep(0.05)
            base_rss = rss_mib(server.pid)
            rows, created, first = [], 0, []
            for checkpoint in checkpoints:
                while created < checkpoint:
                    name = f"tenant-{created:05d}"
                    call(origin, "POST", "/admin/realms", ADMIN, {"name": name})
                    token = call(origin, "POST", f"/admin/realms/{name}/tokens", ADMIN, {})["token"]
                    started = time.perf_counter()
                    call(origin, "GET", f"/realms/{name}/scim/v2/Users?count=1", token)
                    first.append((time.perf_counter() - started) * 1000)
                    created += 1
                recent = first[-min(len(first), 100):]
                rows.append({"realms": checkpoint, "rss_mib": rss_mib(server.pid),
                             "first_p50_ms": statistics.median(recent), "first_max_ms": max(recent)})
        finally:
            server.terminate()
            server.wait()
    return {"base_rss_mib": base_rss, "rows": rows}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/scim-host")
    parser.add_argument("--checkpoints", default="1,100,1000")
    args = parser.parse_args()
    result = measure(args.binary, [int(n) for n in args.checkpoints.split(",")])
    print(f"Server with the demo realm only: {result['base_rss_mib']:.1f} MiB RSS\n")
    print("| realms (bundled module) | RSS (MiB) | first request p50 (ms) | first request max (ms) |")
    print("|---:|---:|---:|---:|")
    for row in result["rows"]:
        print(f"| {row['realms']:,} | {row['rss_mib']:.1f} | {row['first_p50_ms']:.2f} | {row['first_max_ms']:.2f} |")


if __name__ == "__main__":
    main()
