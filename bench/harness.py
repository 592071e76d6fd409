#!/usr/bin/env python3
"""The load benchmarks of scim-host side by side with peer SCIM servers, in one run.

For each server: start it fresh, seed the same users and groups over HTTP, run each
scenario with wrk (bench/load/scenario.lua) and the IdP re-sync with the resync driver,
stop it, go on to the next. Then scim-host alone at growing realm sizes, and the memory
of many realms. Writes bench/results/results.md, results.json and PNG charts.

Run through bench/run.sh, which installs what this needs.
"""

import argparse
import atexit
import datetime
import glob
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts"))
from realms import free_port, rss_mib  # noqa: E402  (shared with the realms script)
from realms import measure as measure_realms  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
RESULTS = os.path.join(BENCH, "results")
SCIM_HOST = os.path.join(ROOT, "target/release/scim-host")
RESYNC = os.path.join(ROOT, "target/release/resync")
TOKEN = "bench-token"
ADMIN = "bench-admin-token"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

# (key, label, what the load is)
SCENARIOS = [
    ("get", "GET user by id", "random seeded user"),
    ("filter", "filter userName eq", "random seeded userName, count=10"),
    ("list", "list count=100, random startIndex", "random startIndex, count=100"),
    ("list_in_order", "list count=100, pages in order", "each connection pages forward, as an IdP import"),
    ("post_new", "POST new user", "a fresh userName each request"),
    ("post_existing", "POST existing user (upsert)", "a seeded user again"),
    ("put_group", "PUT group, 1,000 members, 10 changed", "two member lists 10 apart, alternately"),
    ("patch_member", "PATCH add/remove member", "one member added, then one removed"),
]
# Scenarios of scim-host alone (its stores side by side): writes of many realms at once,
# where SQLite's one writer binds and PostgreSQL's parallel writes should not.
HOST_SCENARIOS = [
    ("post_new_realms", "POST new user, spread over 10 realms", "a fresh userName each request, realms in turn"),
]
SCALE_SCENARIOS = ["get", "filter", "list", "list_in_order", "post_new"]
# Measured again with one request at a time: the latency of a request itself. At 16
# connections on 2 cores shared with wrk the server is saturated, and its p99 is mostly
# the time a request waits behind the 15 others.
# `health` (GET /healthz: neither guest nor store) is the floor of the others: the tail
# this shared machine and wrk add to any request in the same run.
LATENCY_SCENARIOS = ["health", "get", "filter", "list"]


def wait_until_up(port, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start listening")


class Server:
    """A server under test: how to start it, where its SCIM base is."""

    def __init__(self, name, closes_connections):
        self.name = name
        self.closes_connections = closes_connections
        self.process = None
        self.port = None
        self.workdir = None

    def base_path(self):
        raise NotImplementedError

    def command(self):
        raise NotImplementedError

    def environment(self):
        return dict(os.environ)

    def start(self):
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        self.process = subprocess.Popen(self.command(), env=self.environment(), cwd=self.workdir,
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.workdir, "log"), "w"))
        wait_until_up(self.port, self.process)

    def stop(self):
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self):
        return f"http://127.0.0.1:{self.port}{self.base_path()}"


class ScimHost(Server):
    def __init__(self, name="scim-host", binary=SCIM_HOST):
        super().__init__(name, closes_connections=False)
        self.binary = binary

    def store_line(self):
        return ""

    def base_path(self):
        return "/realms/bench/scim/v2"

    def command(self):
        hashed = lambda token: subprocess.run([self.binary, "hash-token", token], capture_output=True, text=True,
                                              check=True).stdout.split("hash:")[1].strip()
        config = os.path.join(self.workdir, "scim-host.toml")
        with open(config, "w") as f:
            f.write(f'listen = "127.0.0.1:{self.port}"\ndata_dir = "data"\nadmin_tokens = ["{hashed(ADMIN)}"]\n'
                    f'{self.store_line()}')
            # Realm `bench`, and ten more for the writes spread over realms. Throughput is
            # measured, not a realm's fair share: lift it.
            for realm in ["bench"] + [f"bench{i}" for i in range(10)]:
                f.write(f'[realms.{realm}]\ntokens = ["{hashed(TOKEN)}"]\n'
                        'limits = { concurrent_calls = 1024, requests_per_second = 1000000000.0 }\n')
        return [self.binary, "serve", "--config", config]

    def environment(self):
        return dict(os.environ, RUST_LOG="warn")

    def database_mib(self):
        path = os.path.join(self.workdir, "data")
        return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.startswith("scim-host.db")) / 2**20


class ScimHostPostgres(ScimHost):
    """scim-host on a fresh database of a throw-away PostgreSQL cluster on this machine
    (`scripts/postgres-scratch`, started once for the run)."""
    cluster = None

    def __init__(self, name="scim-host (PostgreSQL)", binary=SCIM_HOST):
        super().__init__(name, binary)

    def store_line(self):
        if ScimHostPostgres.cluster is None:
            ScimHostPostgres.cluster = subprocess.run([os.path.join(ROOT, "scripts/postgres-scratch")],
                                                      capture_output=True, text=True, check=True).stdout.strip()
            atexit.register(lambda: subprocess.run([os.path.join(ROOT, "scripts/postgres-scratch"), "stop",
                                                    ScimHostPostgres.cluster]))
        database = f"bench_{int(time.time() * 1000)}"
        psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
        subprocess.run([psql, ScimHostPostgres.cluster, "-qc", f"CREATE DATABASE {database}"], check=True)
        url = ScimHostPostgres.cluster.rsplit("/", 1)[0] + "/" + database
        return f'store = "{url}"\n'

    def database_mib(self):
        return float("nan")


class SlowReceiver:
    """A webhook receiver that answers each delivery after a second."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(1)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver.Handler)
        self.deliveries_url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class ScimHostWebhooked(ScimHost):
    """scim-host with a webhook subscription on realm `bench` (every event type) to a
    receiver that answers each delivery in a second: what a subscription costs SCIM."""

    def __init__(self):
        super().__init__("scim-host (webhook, 1 s receiver)")

    def start(self):
        super().start()
        self.receiver = SlowReceiver()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("POST", "/admin/realms/bench/webhooks", body=json.dumps({"url": self.receiver.deliveries_url}),
                           headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 201:
            raise RuntimeError(f"{self.name}: subscribing: {response.status} {response.read()[:300]!r}")

    def stop(self):
        super().stop()
        self.receiver.server.shutdown()


class Scim2Server(Server):
    def __init__(self):
        super().__init__("scim2-server", closes_connections=True)

    def base_path(self):
        return "/v2"

    def command(self):
        return [os.path.join(BENCH, ".venv/bin/scim2-server"), "--port", str(self.port), "--bearer-token", TOKEN]


class Scimmy(Server):
    def __init__(self):
        super().__init__("scimmy", closes_connections=False)

    def base_path(self):
        return "/scim/v2"

    def command(self):
        return ["node", os.path.join(BENCH, "peers/scimmy/server.js"), str(self.port), TOKEN]


class Client:
    """A keep-alive HTTP client for seeding (reconnects when a server closes)."""

    def __init__(self, server):
        self.server = server
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
        for attempt in range(3):
            try:
                self.connection.request(method, self.server.base_path() + path,
                                        body=json.dumps(body) if body is not None else None, headers=headers)
                response = self.connection.getresponse()
                text = response.read()
                if response.status >= 400:
                    raise RuntimeError(f"{self.server.name}: {method} {path}: {response.status} {text[:300]!r}")
                return json.loads(text) if text else None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        raise RuntimeError(f"{self.server.name}: {method} {path}: the connection kept failing")


def user(name):
    return {"schemas": [USER_SCHEMA], "userName": name, "externalId": name,
            "name": {"givenName": "Sync", "familyName": "User"},
            "emails": [{"value": f"{name}@bench.example", "type": "work", "primary": True}], "active": True}


def seed(server, users, data_dir):
    """The same users (`sync-00000`…) and two groups on every server; files for wrk."""
    client = Client(server)
    names = [f"sync-{n:05d}" for n in range(users)]
    ids = [client.call("POST", "/Users", user(name))["id"] for name in names]
    write_seed(data_dir, names, ids)
    members = [{"value": i} for i in ids[:1000]]
    group = client.call("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "bench-1000",
                                            "externalId": "bench-1000", "members": members})
    patch_group = client.call("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "bench-patch"})
    with open(os.path.join(data_dir, "group"), "w") as f:
        f.write(group["id"] + "\n")
    with open(os.path.join(data_dir, "patch_group"), "w") as f:
        f.write(patch_group["id"] + "\n")


def write_seed(data_dir, names, ids):
    with open(os.path.join(data_dir, "names"), "w") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(data_dir, "ids"), "w") as f:
        f.write("\n".join(ids) + "\n")


def bulk_seed(server, users, data_dir, batch=1000):
    """Many users quickly, through Bulk (scim-host only, for the scale runs)."""
    client = Client(server)
    names, ids = [], []
    for start in range(0, users, batch):
        chunk = [f"sync-{n:07d}" for n in range(start, min(users, start + batch))]
        operations = [{"method": "POST", "path": "/Users", "bulkId": name, "data": user(name)} for name in chunk]
        answer = client.call("POST", "/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                               "Operations": operations})
        for name, op in zip(chunk, answer["Operations"]):
            if not str(op.get("status", "")).startswith("2"):
                raise RuntimeError(f"bulk seeding failed on {name}: {op}")
            names.append(name)
            ids.append(op["location"].rstrip("/").rsplit("/", 1)[1])
    write_seed(data_dir, names, ids)


def settle(server, seconds=120):
    """Waits until the server has worked off the previous scenario's backlog: a slow peer
    still answers queued requests after wrk has stopped."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        started = time.perf_counter()
        try:
            Client(server).call("GET", "/ServiceProviderConfig")
        except Exception:
            time.sleep(0.2)
            continue
        if time.perf_counter() - started < 0.1:
            return
        time.sleep(0.2)


def wrk(server, scenario, data_dir, duration, connections, warmup=2):
    """One scenario: a short run whose figures are dropped (caches filled, a large
    database's pages read from disk, JIT warm in the Node peer), then the measured run."""
    settle(server)
    if warmup:
        run_wrk(server, scenario, data_dir, warmup, connections)
        settle(server)
    return run_wrk(server, scenario, data_dir, duration, connections)


def disk_read_kib(pid):
    """What the process has had read from the disk so far (page cache misses, not the
    reads the cache served), from /proc/PID/io."""
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("read_bytes:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no read_bytes")


def run_wrk(server, scenario, data_dir, duration, connections):
    # Paging in order needs one connection per wrk thread, so that each pages on its own.
    threads = connections if scenario == "list_in_order" else min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
               "-s", os.path.join(BENCH, "load/scenario.lua"), f"http://127.0.0.1:{server.port}",
               "--", scenario, data_dir, server.base_path(), TOKEN]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    line = [l for l in output.stdout.splitlines() if l.startswith("{")]
    if not line:
        raise RuntimeError(f"wrk printed no figures: {output.stdout} {output.stderr}")
    figures = json.loads(line[-1])
    seconds = figures["duration_us"] / 1e6
    return {"rps": figures["requests"] / seconds, "p50_ms": figures["p50_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000, "requests": figures["requests"],
            "non2xx": figures["non2xx"], "socket_errors": figures["socket_errors"]}


def resync(server, users, connections):
    output = subprocess.run([RESYNC, server.url(), TOKEN, str(users), str(connections)], capture_output=True,
                            text=True, timeout=3600)
    if output.returncode != 0:
        raise RuntimeError(f"resync failed: {output.stderr}")
    figures = json.loads(output.stdout.strip().splitlines()[-1])
    return {"rps": figures["requests_per_second"], "p50_ms": figures["p50_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000, "requests": figures["requests"], "non2xx": figures["non2xx"],
            "seconds": figures["seconds"], "users_per_second": figures["users_per_second"],
            "posts": figures["posts"], "puts": figures["puts"]}


def side_by_side(servers, args):
    results = {}
    for server in servers:
        print(f"== {server.name}", flush=True)
        server.start()
        try:
            data_dir = tempfile.mkdtemp(prefix="bench-seed-")
            started = time.time()
            seed(server, args.seed_users, data_dir)
            seeded = time.time() - started
            figures = {"seed_seconds": seeded, "closes_connections": server.closes_connections}
            scenarios = SCENARIOS + (HOST_SCENARIOS if isinstance(server, ScimHost) else [])
            for key, label, _ in [s for s in scenarios if not args.scenarios or s[0] in args.scenarios]:
                figures[key] = wrk(server, key, data_dir, args.duration, args.connections)
                print(f"   {label}: {figures[key]['rps']:.0f} req/s, p99 {figures[key]['p99_ms']:.2f} ms"
                      f" ({figures[key]['non2xx']} non-2xx)", flush=True)
            figures["resync"] = resync(server, args.resync_users, 10)
            print(f"   re-sync: {figures['resync']['seconds']:.1f} s", flush=True)
            figures["rss_mib"] = rss_mib(server.process.pid)
            figures["rss_file_mib"] = rss_mib(server.process.pid, "RssFile")
            results[server.name] = figures
            shutil.rmtree(data_dir, ignore_errors=True)
        finally:
            server.stop()
    return results


def scale(args):
    results = {}
    for users in args.scale:
        print(f"== scim-host at {users:,} users", flush=True)
        server = ScimHost()
        server.start()
        try:
            data_dir = tempfile.mkdtemp(prefix="bench-scale-")
            started = time.time()
            bulk_seed(server, users, data_dir)
            figures = {"seed_seconds": time.time() - started, "database_mib": server.database_mib()}
            print(f"   seeded in {figures['seed_seconds']:.0f} s, database {figures['database_mib']:.0f} MiB", flush=True)
            # The reads one at a time come before the POSTs: after a burst of writes, the
            # checkpoint thread copies the log into the database file for a while, and a
            # read's own latency would carry that.
            writes = ["post_new"]

            def saturated(key):
                figures[key] = wrk(server, key, data_dir, args.duration, args.connections)
                print(f"   {key}: {figures[key]['rps']:.0f} req/s, p99 {figures[key]['p99_ms']:.2f} ms", flush=True)

            for key in SCALE_SCENARIOS:
                if key not in writes:
                    saturated(key)
            figures["one_at_a_time"] = {}
            for key in LATENCY_SCENARIOS:
                before = disk_read_kib(server.process.pid)
                one = wrk(server, key, data_dir, args.duration, 1)
                one["disk_read_kib"] = disk_read_kib(server.process.pid) - before
                figures["one_at_a_time"][key] = one
                print(f"   {key}, one at a time: p50 {one['p50_ms']:.2f} ms, p99 {one['p99_ms']:.2f} ms", flush=True)
            for key in writes:
                saturated(key)
            figures["rss_mib"] = rss_mib(server.process.pid)
            figures["rss_file_mib"] = rss_mib(server.process.pid, "RssFile")
            results[str(users)] = figures
            shutil.rmtree(data_dir, ignore_errors=True)
        finally:
            server.stop()
    return results


def realms(args):
    """RSS and first-request latency of many realms on the bundled module."""
    return measure_realms(SCIM_HOST, args.realms)


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


def markdown(report):
    out = []
    meta = report["machine"]
    out.append("# scim-host load benchmarks\n")
    out.append(f"One run of `bench/run.sh` on {meta['date']} (commit `{meta['commit']}`): {meta['cpus']} CPUs "
               f"({meta['cpu']}), shared by the server and the load generator. wrk, {report['settings']['connections']} "
               f"connections, 2 threads (one per connection for pages in order), {report['settings']['duration']} s per scenario after 2 s of warm-up; {report['settings']['seed_users']:,} "
               "users and a group of 1,000 members seeded alike on every server.\n")
    names = list(report["servers"].keys())
    peers = [n for n in names if not n.startswith("scim-host")]
    out.append("## Side by side\n")
    header = "| scenario | " + " | ".join(f"{n} req/s | p50 ms | p99 ms" for n in names) + " | vs best peer |"
    out.append(header)
    out.append("|---|" + "---:|---:|---:|" * len(names) + "---:|")
    resync = ("resync", "re-sync of 10,000 users (probe, then POST or PUT; 10 connections)", "")
    for key, label, _ in SCENARIOS + HOST_SCENARIOS + [resync]:
        if not any(key in report["servers"][n] for n in names):
            continue
        cells = []
        for n in names:
            f = report["servers"][n].get(key)
            if f is None:
                cells.append("– | – | –")
                continue
            mark = f" ({fmt(f['non2xx'])} non-2xx)" if f["non2xx"] else ""
            cells.append(f"{fmt(f['rps'])}{mark} | {fmt(f['p50_ms'], 2)} | {fmt(f['p99_ms'], 2)}")
        best = max((report["servers"][p][key]["rps"] for p in peers if key in report["servers"][p]), default=0)
        ours = report["servers"].get("scim-host", {}).get(key)
        ratio = f"{ours['rps'] / best:.1f}×" if best and ours else "–"
        out.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    out.append("")
    for n in names:
        s = report["servers"][n]
        note = "closes every connection (HTTP/1.0)" if s["closes_connections"] else "keeps connections alive"
        extra = f"; re-sync {fmt(s['resync']['seconds'], 1)} s ({fmt(s['resync']['users_per_second'])} users/s)"
        files = f" ({fmt(s['rss_file_mib'], 1)} MiB of it mapped files)" if "rss_file_mib" in s else ""
        out.append(f"- **{n}**: {note}; seeding took {fmt(s['seed_seconds'], 1)} s; RSS after the run "
                   f"{fmt(s['rss_mib'], 1)} MiB{files}{extra}.")
    out.append("- A POST of an existing user answers 200 on scim-host (upsert) and 409 on the peers: their "
               "non-2xx count is that refusal, as an IdP re-sync meets it.")
    out.append("")
    if report.get("scale"):
        out.append("## scim-host as the realm grows\n")
        out.append("| users in the realm | seeding (s) | database (MiB) | " +
                   " | ".join(f"{k} req/s | p99 ms" for k in SCALE_SCENARIOS) +
                   " | RSS, anonymous (MiB) | RSS, mapped files (MiB) |")
        out.append("|---:|---:|---:|" + "---:|---:|" * len(SCALE_SCENARIOS) + "---:|---:|")
        for users, f in report["scale"].items():
            cells = " | ".join(f"{fmt(f[k]['rps'])} | {fmt(f[k]['p99_ms'], 2)}" for k in SCALE_SCENARIOS)
            out.append(f"| {int(users):,} | {fmt(f['seed_seconds'])} | {fmt(f['database_mib'])} | {cells} | "
                       f"{fmt(f['rss_mib'] - f['rss_file_mib'], 1)} | {fmt(f['rss_file_mib'], 1)} |")
        out.append("")
        out.append("The anonymous RSS is the memory the server holds. The mapped files are its code and the "
                   "database, which each of the store's connections (up to 33) reads through a memory map of "
                   "its own: a page of the kernel's page cache counts once per connection that touched it, so "
                   "this column adds up the same pages many times over.\n")
        out.append(f"Those figures are at saturation ({report['settings']['connections']} connections): a p99 there "
                   "is mostly the wait behind the other requests in flight. The latency of a request itself, "
                   "one at a time (1 connection, same scenarios; `health` is `GET /healthz`, which "
                   "reaches neither the guest nor the store: the floor the machine and wrk set under "
                   "the other columns in this run). The last column is what the server had read from the "
                   "disk during these runs (`read_bytes` of /proc/PID/io): database pages the kernel's page "
                   "cache no longer held, which the requests that met them waited for.\n")
        out.append("| users in the realm | " + " | ".join(f"{k} p50 ms | p99 ms" for k in LATENCY_SCENARIOS) +
                   " | read from disk (KiB) |")
        out.append("|---:|" + "---:|---:|" * len(LATENCY_SCENARIOS) + "---:|")
        for users, f in report["scale"].items():
            ones = f["one_at_a_time"]
            cells = " | ".join(f"{fmt(ones[k]['p50_ms'], 2)} | {fmt(ones[k]['p99_ms'], 2)}" for k in LATENCY_SCENARIOS)
            read = [ones[k]["disk_read_kib"] for k in LATENCY_SCENARIOS if "disk_read_kib" in ones[k]]
            out.append(f"| {int(users):,} | {cells} | {fmt(sum(read)) if read else '–'} |")
        out.append("")
    if report.get("realms"):
        r = report["realms"]
        out.append("## Many realms on the bundled module\n")
        out.append(f"The server with its one configured realm: {fmt(r['base_rss_mib'], 1)} MiB RSS.\n")
        out.append("| realms | RSS (MiB) | first request p50 (ms) | first request max (ms) |")
        out.append("|---:|---:|---:|---:|")
        for row in r["rows"]:
            out.append(f"| {row['realms']:,} | {fmt(row['rss_mib'], 1)} | {fmt(row['first_p50_ms'], 2)} | "
                       f"{fmt(row['first_max_ms'], 2)} |")
        out.append("")
    out.append("Charts: `throughput.png`, `latency_p99.png`" + (", `scale.png`" if report.get("scale") else "") +
               (", `realms.png`" if report.get("realms") else "") + ".\n")
    return "\n".join(out)


def charts(report, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(report["servers"].keys())
    keys = [k for k, _, _ in SCENARIOS] + ["resync"]
    labels = [l for _, l, _ in SCENARIOS] + ["re-sync 10k users"]
    for metric, title, filename in [("rps", "requests per second (log scale, higher is better)", "throughput.png"),
                                    ("p99_ms", "p99 latency in ms (log scale, lower is better)", "latency_p99.png")]:
        fig, ax = plt.subplots(figsize=(12, 5.5))
        width = 0.8 / len(names)
        for i, n in enumerate(names):
            values = [max(report["servers"][n].get(k, {}).get(metric, 1e-3), 1e-3) for k in keys]
            ax.bar([x + i * width for x in range(len(keys))], values, width, label=n)
        ax.set_yscale("log")
        ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(keys))])
        ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(results, filename), dpi=110)
        plt.close(fig)
    if report.get("scale"):
        sizes = [int(u) for u in report["scale"].keys()]
        fig, ax = plt.subplots(figsize=(8, 5))
        for k in SCALE_SCENARIOS:
            ax.plot(sizes, [report["scale"][str(u)][k]["p99_ms"] for u in sizes], marker="o", label=k)
        for k in LATENCY_SCENARIOS:
            ax.plot(sizes, [report["scale"][str(u)]["one_at_a_time"][k]["p99_ms"] for u in sizes], marker="x",
                    linestyle="--", label=f"{k}, one at a time")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users in the realm")
        ax.set_ylabel("p99 latency (ms)")
        ax.set_title("scim-host p99 latency as the realm grows")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(results, "scale.png"), dpi=110)
        plt.close(fig)
    if report.get("realms"):
        rows = report["realms"]["rows"]
        fig, ax = plt.subplots(figsize=(8, 5))
        ax.plot([r["realms"] for r in rows], [r["rss_mib"] for r in rows], marker="o")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("realms on the bundled module")
        ax.set_ylabel("RSS (MiB)")
        ax.set_title("scim-host resident memory by number of realms")
        fig.tight_layout()
        fig.savefig(os.path.join(results, "realms.png"), dpi=110)
        plt.close(fig)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "cpu": cpu, "commit": commit,
            "kernel": platform.release()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seed-users", type=int, default=1010)
    parser.add_argument("--resync-users", type=int, default=10000)
    parser.add_argument("--servers", default="scim-host,scim-host-postgres,scim2-server,scimmy")
    parser.add_argument("--scale", default="1000,100000,1000000",
                        type=lambda s: [int(x) for x in s.split(",") if x])
    parser.add_argument("--realms", default="1,100,1000", type=lambda s: [int(x) for x in s.split(",") if x])
    parser.add_argument("--baseline", help="another scim-host binary (an earlier commit's) run side by side, "
                        "before this one; the ratio column then compares with it")
    parser.add_argument("--baseline-store", default="sqlite", choices=["sqlite", "postgres"],
                        help="the baseline's store")
    parser.add_argument("--scenarios", type=lambda s: [x for x in s.split(",") if x],
                        help="only these scenarios (comma-separated keys; all when absent)")
    parser.add_argument("--results", default=RESULTS, help="where the results go")
    args = parser.parse_args()
    known = {"scim-host": ScimHost, "scim-host-postgres": ScimHostPostgres, "scim-host-webhook": ScimHostWebhooked,
             "scim2-server": Scim2Server, "scimmy": Scimmy}
    servers = [known[n]() for n in args.servers.split(",")]
    if args.baseline:
        baseline = {"sqlite": ScimHost, "postgres": ScimHostPostgres}[args.baseline_store]
        servers.insert(0, baseline(f"scim-host (baseline, {args.baseline_store})", os.path.abspath(args.baseline)))
    results = args.results
    os.makedirs(results, exist_ok=True)
    report = {"machine": machine(), "settings": {"duration": args.duration, "connections": args.connections,
                                                 "seed_users": args.seed_users, "resync_users": args.resync_users}}
    report["servers"] = side_by_side(servers, args)
    report["scale"] = scale(args) if args.scale else {}
    report["realms"] = realms(args) if args.realms else {}
    with open(os.path.join(results, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    charts(report, results)
    with open(os.path.join(results, "results.md"), "w") as f:
        f.write(markdown(report))
    print(open(os.path.join(results, "results.md")).read())


if __name__ == "__main__":
    main()
