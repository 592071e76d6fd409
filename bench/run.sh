#!/usr/bin/env bash
# The load benchmarks in one command: installs wrk, the Python peer (scim2-server) and the
# chart library in bench/.venv, the Node peer (scimmy) in bench/peers/scimmy, builds
# scim-host and the re-sync driver in release mode, then runs bench/harness.py, which
# writes bench/results/. Extra arguments go to the harness (--duration, --scale, …).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk
fi
# PostgreSQL's binaries, for scim-host on PostgreSQL (a throw-away cluster, no service).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends postgresql
fi
command -v node >/dev/null || { echo "bench/run.sh: Node.js (18+) is needed for the scimmy peer" >&2; exit 1; }

[ -x bench/.venv/bin/python ] || python3 -m venv bench/.venv
bench/.venv/bin/pip install -q -r bench/requirements.txt
(cd bench/peers/scimmy && npm ci --silent --no-audit --no-fund)

cargo build --release -p scim-host -p scim-bench --bin scim-host --bin resync

exec bench/.venv/bin/python bench/harness.py "$@"
