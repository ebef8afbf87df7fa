#!/bin/sh
# The Go benchmarks of the hot paths, at this checkout and at a baseline
# commit, run alternately in one go (so that both meet the same machine
# load) and compared with benchstat: each figure comes with its ratio to
# the baseline.
#
# Needs benchstat (go install golang.org/x/perf/cmd/benchstat@latest).
# Usage: bench/gobench.sh [baseline commit, default HEAD~1] [rounds, default 6]
# USHER_BENCH_OVERLAY lists test files (paths from the top) to copy from
# this checkout over the baseline's, when a benchmark itself changed since
# and both sides must measure the same thing.
set -eu
BASE=${1:-HEAD~1}
ROUNDS=${2:-6}
cd "$(dirname "$0")/.."
command -v benchstat >/dev/null 2>&1 || { echo "bench/gobench.sh needs benchstat: go install golang.org/x/perf/cmd/benchstat@latest" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
	git worktree remove --force "$work/base" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
git worktree add --detach "$work/base" "$BASE" >/dev/null 2>&1
for f in ${USHER_BENCH_OVERLAY:-}; do
	cp "$f" "$work/base/$f"
done

# The request paths of the gateway, the tokens, the in-memory store and
# the shield's per-request checks; the Redis store's figures are a loopback
# round trip, measured by bench/joins.sh instead.
PKGS="gateway admission queue/memory gateway/shield"
BENCH='^Benchmark(AdmittedRequest|Status|Join|VerifyPassCached|VerifyPassUncached|Sign|Store|Allow|Poll|Pass|HeaderReasons)$'
for p in $PKGS; do
	name=$(echo "$p" | tr / -)
	go test -c -o "$work/new-$name.test" "./$p"
	(cd "$work/base" && go test -c -o "$work/old-$name.test" "./$p")
done
for r in $(seq "$ROUNDS"); do
	for p in $PKGS; do
		name=$(echo "$p" | tr / -)
		# Alternate which build goes first, so neither always meets a
		# warmer or a busier machine.
		for side in old new; do
			[ $((r % 2)) -eq 0 ] && side=$([ "$side" = old ] && echo new || echo old)
			(cd "$p" && "$work/$side-$name.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem -test.count 1) |
				sed "s|^pkg: .*|pkg: github.com/usherhq/usher/$p|" >> "$work/$side.txt"
		done
	done
	echo "round $r of $ROUNDS done" >&2
done
echo "baseline: $(git rev-parse --short "$BASE"), this: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' with uncommitted changes'), $ROUNDS rounds"
benchstat "$work/old.txt" "$work/new.txt"
