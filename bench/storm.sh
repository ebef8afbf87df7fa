#!/bin/sh
# A full on-sale rehearsal on this machine: usher demo on Redis and
# PostgreSQL, and bench/storm playing fans and bots against it. The text
# summary goes to stdout, the JSON and HTML reports to artifacts/.
#
# Needs Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432 (user
# postgres, database test; make services starts both). Uses a schema and
# Redis keys of its own and drops them afterwards.
# Usage: bench/storm.sh [fans, default 50000] [bots, default 10000] [extra storm flags...]
set -eu
FANS=${1:-50000}
BOTS=${2:-10000}
[ $# -ge 2 ] && shift 2 || shift $#
cd "$(dirname "$0")/.."

work=$(mktemp -d)
schema="storm_$$"
pg="postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
usher_pid=""
cleanup() {
	[ -n "$usher_pid" ] && kill -INT "$usher_pid" 2>/dev/null && wait "$usher_pid" 2>/dev/null || true
	psql -q -h 127.0.0.1 -U postgres -d test -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/usher" .
go build -o "$work/storm" ./bench/storm
psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE SCHEMA $schema"
export USHER_ADMIN_TOKEN="storm-$$-token"
"$work/usher" demo -listen 127.0.0.1:18180 -admin-listen 127.0.0.1:19180 -booking-admin-listen 127.0.0.1:19181 \
	-booking-listen 127.0.0.1:19182 -crowd 0 -redis redis://127.0.0.1:6379/0 -database "$pg&search_path=$schema" -log-level warn 2>"$work/usher.log" &
usher_pid=$!
for i in $(seq 100); do
	curl -sf http://127.0.0.1:18180/_usher/readyz >/dev/null 2>&1 && break
	sleep 0.2
done
mkdir -p artifacts
# The storm's 60,000 clients keep a large heap of small objects; collecting it
# less often leaves more of the machine to the clients (see bench/RESULTS.md).
GOGC=400 "$work/storm" -target http://127.0.0.1:18180 -admin http://127.0.0.1:19180 -booking-admin http://127.0.0.1:19181 \
	-origin http://127.0.0.1:19182 -fans "$FANS" -bots "$BOTS" -burst 20s -tail 40s -duration 4m -settle 30s -rate 30000 -max-active 5000 -exclusive \
	-json artifacts/storm.json -html artifacts/storm.html "$@"
