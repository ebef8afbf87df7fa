#!/bin/sh
# Seat holds per second under contention, on SQLite and on PostgreSQL: the
# store's BenchmarkHolds, where 200 clients (each its own account) hold 1-4
# random seats of a 1,000-seat event and release their previous hold, and a
# single client does the same as the baseline of the same run. Every
# benchmark also reports "oversold", which must be 0, and checks the final
# seat map against the live holds.
#
# Needs a PostgreSQL at USHER_TEST_POSTGRES_URL (default the local server,
# database test, user postgres); the benchmark works in a schema of its own
# and drops it. SQLite works on a file in a temporary directory.
# Usage: bench/holds.sh [holds tried per benchmark, default 3000] [rounds, default 3]
set -eu
N=${1:-3000}
ROUNDS=${2:-3}
cd "$(dirname "$0")/.."
go test -run '^$' -bench '^BenchmarkHolds$' -benchtime "${N}x" -count "$ROUNDS" \
	./booking/sqlite/ ./booking/postgres/ | grep -E '^(pkg|Benchmark)'
