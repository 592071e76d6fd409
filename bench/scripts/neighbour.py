#!/usr/bin/env python3
"""The noisy-neighbour benchmark: one realm's latency and throughput alone, then beside a
realm whose every request loops, eats memory, traps, writes then loops, or sleeps, at
full speed (bench/load/noisy.lua), on the same server, in one run.

The quiet realm runs the bundled module with 1,000 users; the noisy realm runs the
misbehaving fixture guest (tests/guests/misbehaving) with the server's default limits:
the fair share every realm gets. Writes bench/results/neighbour.md and neighbour.json.

    python3 bench/scripts/neighbour.py [--binary target/release/scim-host] [--duration 15] [--rounds 3]

Needs wrk and a release build of scim-host and of the fixture guest:
    cargo build --release -p scim-host
    cargo build --release -p misbehaving-guest --target wasm32-wasip2
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from realms import call, free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOAD = os.path.join(ROOT, "bench", "load")
RESULTS = os.path.join(ROOT, "bench", "results")
QUIET, NOISY, ADMIN = "quiet-token", "noisy-token", "admin-token"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def hashed(binary, token):
    out = subprocess.run([binary, "hash-token", token], capture_output=True, text=True, check=True).stdout
    return out.split("hash:")[1].strip()


def wrk(args, script, url, script_args, connections, duration):
    command = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
               "-s", os.path.join(LOAD, script), url, "--", *script_args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(args, origin, data, duration):
    """The quiet realm's figures: GET one at a time, GET and POST saturated."""
    base = "/realms/quiet/scim/v2"
    out = {}
    for key, scenario, connections in [("get_one", "get", 1), ("get", "get", 16), ("post", "post_new", 4)]:
        r = wrk(args, "scenario.lua", origin, [scenario, data, base, QUIET], connections, duration)
        seconds = r["duration_us"] / 1e6
        out[key] = {"rps": r["requests"] / seconds, "p50_ms": r["p50_us"] / 1e3, "p99_ms": r["p99_us"] / 1e3,
                    "errors": r["non2xx"] + r["socket_errors"]}
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/scim-host"))
    parser.add_argument("--guest", default=os.path.join(ROOT, "target/wasm32-wasip2/release/misbehaving_guest.wasm"))
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="scim-neighbour-")
    port = free_port()
    config = os.path.join(work, "scim-host.toml")
    with open(config, "w") as f:
        # `durability = "normal"`: what is measured is the neighbour's share of the cores
        # and of the writer; on a shared machine the disk's fsync latency (the cost of the
        # default, measured on its own) varies more than that from one window to the next.
        f.write(f'listen = "127.0.0.1:{port}"\ndata_dir = "data"\ndurability = "normal"\n'
                f'admin_tokens = ["{hashed(args.binary, ADMIN)}"]\n'
                f'[realms.quiet]\ntokens = ["{hashed(args.binary, QUIET)}"]\n'
                'limits = { concurrent_calls = 64, requests_per_second = 1000000000.0 }\n'
                f'[realms.noisy]\nmodule = "{args.guest}"\ntokens = ["{hashed(args.binary, NOISY)}"]\n')
    server = subprocess.Popen([args.binary, "serve", "--config", config], env=dict(os.environ, RUST_LOG="error"))
    origin = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(origin + "/healthz").read()
                break
            except OSError:
                time.sleep(0.1)
        data = os.path.join(work, "seed")
        os.makedirs(data)
        ids, names = [], []
        for i in range(args.users):
            name = f"quiet-{i:06}"
            body = {"schemas": [USER], "userName": name, "externalId": name}
            ids.append(call(origin, "POST", "/realms/quiet/scim/v2/Users", QUIET, body)["id"])
            names.append(name)
        for file, lines in [("ids", ids), ("names", names)]:
            with open(os.path.join(data, file), "w") as f:
                f.write("\n".join(lines) + "\n")

        # Alone and beside in turns: on a shared machine the noise of one 10 s window can
        # be larger than the neighbour's effect, so each figure is the median of the rounds.
        rounds = []
        for _ in range(args.rounds):
            alone = measure(args, origin, data, args.duration)
            # The neighbour starts first: what is measured is the steady state beside it.
            noisy = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{3 * args.duration + 7}s", "--timeout", "30s",
                                      "-s", os.path.join(LOAD, "noisy.lua"), origin, "--", "/realms/noisy/scim/v2",
                                      NOISY], stdout=subprocess.PIPE, text=True)
            time.sleep(5)
            beside = measure(args, origin, data, args.duration)
            noisy_out = json.loads(noisy.communicate()[0].strip().splitlines()[-1])
            rounds.append({"alone": alone, "beside": beside, "noisy": noisy_out})
    finally:
        server.terminate()
        server.wait()

    rows = [("GET user by id, one at a time", "get_one"), ("GET user by id, 16 connections", "get"),
            ("POST new user, 4 connections", "post")]
    lines = ["| quiet realm | alone req/s | alone p99 ms | beside req/s | beside p99 ms | p99 ratio (each round) "
             "| errors beside |", "|---|---:|---:|---:|---:|---:|---:|"]
    for label, key in rows:
        a = {m: statistics.median(r["alone"][key][m] for r in rounds) for m in ("rps", "p99_ms")}
        b = {m: statistics.median(r["beside"][key][m] for r in rounds) for m in ("rps", "p99_ms")}
        ratios = [r["beside"][key]["p99_ms"] / r["alone"][key]["p99_ms"] for r in rounds]
        errors = sum(r["beside"][key]["errors"] for r in rounds)
        each = ", ".join(f"{x:.2f}" for x in ratios)
        lines.append(f"| {label} | {a['rps']:,.0f} | {a['p99_ms']:.2f} | {b['rps']:,.0f} | {b['p99_ms']:.2f} | "
                     f"**{statistics.median(ratios):.2f}×** ({each}) | {errors} |")
    table = "\n".join(lines)
    noisy_out = json.dumps({k: sum(r["noisy"][k] for r in rounds) for k in ("requests", "non2xx", "socket_errors")})
    print(table)
    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(RESULTS, "neighbour.md"), "w") as f:
        f.write(f"# Noisy neighbour\n\nRun of {commit}, {stamp}, {os.cpu_count()} cores, {args.duration} s per "
                f"figure, {args.rounds} rounds of alone then beside (medians), {args.users} users in the quiet "
                f"realm, `durability = \"normal\"` (fsync latency on a shared disk is not the neighbour's doing). The noisy realm (default limits) sent 16 connections of loops, memory eaters, traps, "
                f"writes-then-loops and sleeps at full speed, from 5 s before the measurements to their end; "
                f"it was answered, in all rounds: `{noisy_out}`.\n\n{table}\n")
    with open(os.path.join(RESULTS, "neighbour.json"), "w") as f:
        json.dump({"commit": commit, "rounds": rounds}, f, indent=2)


if __name__ == "__main__":
    main()
