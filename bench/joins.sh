#!/bin/sh
# Joins per second through the gateway with Redis: wrk sends requests for a
# protected page without cookies, as new visitors do, so every request joins
# the line (one Redis script) and gets a signed ticket and the 429 status
# JSON. The room is paused, so nobody is admitted and every answer is a join.
# The count in Redis is checked against the requests wrk made.
#
# Needs wrk and a Redis at USHER_BENCH_REDIS_URL (default
# redis://127.0.0.1:6379/0); uses and then deletes keys under usher-bench:.
# Usage: bench/joins.sh [seconds, default 10] [connections, default 128]
set -eu
DURATION=${1:-10}
CONNS=${2:-128}
REDIS_URL=${USHER_BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { echo "bench/joins.sh needs wrk (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
prefix="usher-bench-$$:"
usher_pid=""
cleanup() {
	[ -n "$usher_pid" ] && kill "$usher_pid" 2>/dev/null || true
	redis-cli -u "$REDIS_URL" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/usher" .
"$work/usher" keygen -out "$work/key.pem" >/dev/null
cat > "$work/gateway.yaml" <<CONF
listen: "127.0.0.1:18090"
admin_listen: ""
origin: {url: "http://127.0.0.1:1"}
redis: {url: "$REDIS_URL", key_prefix: "$prefix", pool_size: 256}
tokens: {key_files: ["$work/key.pem"]}
log: {level: warn}
rooms:
  - id: bench
    paths: ["/*"]
    rate_per_minute: 60
    max_active: 100
    state: paused
CONF
"$work/usher" gateway -config "$work/gateway.yaml" 2>"$work/usher.log" &
usher_pid=$!
for i in $(seq 50); do
	curl -sf http://127.0.0.1:18090/_usher/readyz >/dev/null 2>&1 && break
	sleep 0.1
done
curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/json' http://127.0.0.1:18090/events/1 | grep -q 429 || { echo "no 429 from usher" >&2; cat "$work/usher.log" >&2; exit 1; }

wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H 'Accept: application/json' http://127.0.0.1:18090/events/1 > "$work/wrk.out"
cat "$work/wrk.out"
requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
joined=$(redis-cli -u "$REDIS_URL" hget "$prefix{bench}:q" joined)
rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
cut=$((joined - requests - 1))
echo "joins per second: $rps ($requests requests answered; Redis counted $joined joins: 1 probe before the run and $cut requests cut off when wrk stopped)"
# Every answered request joined once; at most one request per connection is
# left unanswered when wrk stops.
if [ "$cut" -lt 0 ] || [ "$cut" -gt "$CONNS" ]; then
	echo "joins and requests disagree beyond what wrk cuts off at the end" >&2
	exit 1
fi
