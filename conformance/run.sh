#!/usr/bin/env bash
# Runs the scim2-tester conformance checker against a freshly started scim-host, once on
# the realm base URL and once on an organization base URL. Fails on any result other than
# SUCCESS, and on fewer checks than the published schemas imply.
#
# Usage: conformance/run.sh [path to the scim-host binary]   (default: target/debug/scim-host)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/debug/scim-host}
minimum=135

venv=.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r conformance/requirements.txt

data=$(mktemp -d)
log="$data/scim-host.log"
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SCIM_HOST_DEMO_TOKEN=$token SCIM_HOST_DEMO_ADMIN_TOKEN=$token-admin \
  "$binary" serve --demo --listen 127.0.0.1:0 --data-dir "$data" 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT

origin=
for _ in $(seq 1 600); do
  origin=$(sed -n 's/^scim-host listening on //p' "$log")
  [ -n "$origin" ] && break
  kill -0 $server 2>/dev/null || { cat "$log"; echo "scim-host exited before listening" >&2; exit 1; }
  sleep 0.1
done
[ -n "$origin" ] || { cat "$log"; echo "scim-host did not start listening" >&2; exit 1; }

status=0
for base in "$origin/realms/demo/scim/v2" "$origin/realms/demo/scim/v2/organizations/acme"; do
  "$venv/bin/python" conformance/check.py "$base" "$token" "$minimum" || status=1
done
exit $status
