"""Instructions the whole server (every thread) spends per request, counted by callgrind
over fixed sequential workloads, so that two builds compare without the machine's noise:

    python3 bench/scripts/instructions.py target/release/scim-host /tmp/ir-new 18182
    python3 bench/scripts/instructions.py /tmp/base/target/release/scim-host /tmp/ir-old 18181

Each prints the instructions of each workload (200 GETs by id, 200 filters, 50 lists of
10, 200 unchanged re-POSTs, 200 new users, 200 PATCHes of a group's members); divide by
the number of requests. The pool is one instance (valgrind cannot reserve the default
pool's address space) and the compiled guest is cached by a first, native run."""
import json, os, shutil, subprocess, sys, time, urllib.request, glob, http.client

BIN, OUT, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
TOKEN = "bench-token-0123456789abcdef"
shutil.rmtree(OUT, ignore_errors=True); os.makedirs(OUT)
hashed = subprocess.run([BIN, "hash-token", TOKEN], capture_output=True, text=True, check=True).stdout.split("hash:")[1].strip()
cfg = os.path.join(OUT, "c.toml")
open(cfg, "w").write(f'listen = "127.0.0.1:{PORT}"\nconcurrent_calls = 1\ndata_dir = "{OUT}/data"\n[realms.bench]\ntokens = ["{hashed}"]\n'
                     'limits = { concurrent_calls = 1, requests_per_second = 1000000000.0 }\n')
conn = None
def call(method, path, body=None):
    global conn
    if conn is None: conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
    conn.request(method, "/realms/bench/scim/v2" + path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse(); data = r.read()
    return r.status, (json.loads(data) if data else None)
def wait_ready():
    for _ in range(1200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=5); return
        except Exception: time.sleep(0.5)
    raise SystemExit("not ready")
def user(n): return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"u{n}", "externalId": f"x{n}", "name": {"givenName": "A", "familyName": f"B{n}"}, "emails": [{"value": f"u{n}@example.org", "primary": True}]}
# warm: compile cache and seed
p = subprocess.Popen([BIN, "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait_ready()
ids = [call("POST", "/Users", user(n))[1]["id"] for n in range(50)]
g = call("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g", "members": [{"value": i} for i in ids[:20]]})[1]["id"]
conn.close(); conn = None
p.terminate(); p.wait()
vg = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={OUT}/cg.%p", BIN, "serve", "--config", cfg],
                      stdout=subprocess.DEVNULL, stderr=open(f"{OUT}/vg.log", "w"))
wait_ready()
def measure(name, n, fn):
    subprocess.run(["callgrind_control", "-i", "on", str(vg.pid)], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-z", str(vg.pid)], check=True, capture_output=True)
    for i in range(n): fn(i)
    subprocess.run(["callgrind_control", "-d", name, str(vg.pid)], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-i", "off", str(vg.pid)], check=True, capture_output=True)
for i in range(5): call("GET", f"/Users/{ids[0]}")  # warm the connection
N = 200
measure("get", N, lambda i: call("GET", f"/Users/{ids[i % 50]}"))
measure("filter", N, lambda i: call("GET", f"/Users?filter=userName%20eq%20%22u{i % 50}%22"))
measure("list", N // 4, lambda i: call("GET", f"/Users?startIndex={1 + i % 40}&count=10"))
measure("upsert", N, lambda i: call("POST", "/Users", user(i % 50)))
measure("create", N, lambda i: call("POST", "/Users", user(1000 + i)))
measure("patch", N, lambda i: call("PATCH", f"/Groups/{g}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add" if i % 2 == 0 else "remove", "path": "members" if i % 2 == 0 else f'members[value eq "{ids[40]}"]', "value": [{"value": ids[40]}]}]}))
vg.terminate(); vg.wait()
res = {}
for f in glob.glob(f"{OUT}/cg.*"):
    text = open(f, errors="replace").read()
    desc = [l for l in text.splitlines() if l.startswith("desc: Trigger:")]
    summ = [l for l in text.splitlines() if l.startswith("summary:") or l.startswith("totals:")]
    if desc and summ:
        trig = desc[0].split("Trigger:")[1].strip()
        res.setdefault(trig, 0); res[trig] += int(summ[0].split()[1])
print(json.dumps(res, indent=1))
