#!/bin/sh
# Edge cache under a crowd, side by side on this machine: wrk with keep-alive
# and 1,000 connections asking for one slow landing page through
#   nginx    proxy_cache with proxy_cache_lock, use_stale updating and
#            background updates (one worker, upstream keep-alive)
#   usher    usher gateway with a cache rule for the page (ttl 1s,
#            stale_while_revalidate, lock_timeout), no room on the page
# Both sit in front of the same origin, bench/slowpage: every page request
# takes DELAY_MS (200 by default) and is cacheable for one second, and it
# counts the requests it receives. For every run the script prints what wrk
# saw (requests/s, p99, errors), the server's CPU time per request and how
# many requests reached the origin: a cache that collapses misses lets about
# one through per TTL, so about 1 per second.
# Each proxy runs on CPU 1 with one thread (nginx: 1 worker; usher:
# GOMAXPROCS=1); the origin and wrk share CPU 0. Runs are interleaved, ROUNDS
# times, and the medians and the usher/nginx ratios are printed.
#
# Needs nginx, wrk and Go (Debian: apt-get install nginx-light wrk).
# Usage: bench/cache.sh [seconds per run, default 10] [rounds, default 3]
set -eu
DURATION=${1:-10}
ROUNDS=${2:-3}
CONNS=${CONNS:-1000}
DELAY_MS=${DELAY_MS:-200}
cd "$(dirname "$0")/.."
# 1,000 client connections, as many upstream at worst, and wrk's own: raise
# the open files limit as far as allowed (nginx and usher inherit it).
# ulimit -n is not POSIX, but dash, bash and busybox sh all have it.
# shellcheck disable=SC3045
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck disable=SC3045
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] || [ "$nofile" -ge $((CONNS * 2 + 256)) ] ||
	echo "warning: ulimit -n is $nofile, low for $CONNS connections" >&2

work=$(mktemp -d)
. bench/lib.sh
need nginx wrk taskset go curl
chmod 755 "$work" # nginx workers may run as another user
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	if [ -f "$work/proxy.pid" ]; then kill "$(cat "$work/proxy.pid")" 2>/dev/null || true; fi
	sleep 0.3
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
[ -n "${BENCH_DEBUG:-}" ] && set -x

ORIGIN=127.0.0.1:18091
NGINX=127.0.0.1:18092
USHER=127.0.0.1:18093

go build -o "$work/slowpage" ./bench/slowpage
go build -o "$work/usher" .

mkdir "$work/cache"
{ nginx_head proxy 8192; cat <<CONF; } > "$work/proxy.conf"
  proxy_cache_path $work/cache levels=1:2 keys_zone=landing:10m max_size=64m inactive=10m use_temp_path=off;
  upstream origin { server $ORIGIN; keepalive 128; keepalive_requests 1000000; }
  server {
    listen $NGINX backlog=4096;
    keepalive_requests 1000000;
    location / {
$(nginx_proxy)
      proxy_cache landing;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 5s;
      proxy_cache_use_stale updating error timeout;
      proxy_cache_background_update on;
      # The origin's max-age (1s) governs; this is for answers without one.
      proxy_cache_valid 200 1s;
    }
  }
}
CONF

"$work/usher" keygen -out "$work/key.pem" >/dev/null
cat > "$work/usher.yaml" <<CONF
listen: "$USHER"
admin_listen: ""
plain_http: true
origin: {url: "http://$ORIGIN", max_conns: 128}
tokens: {key_files: ["$work/key.pem"]}
log: {level: warn}
server: {concurrency: 100000}
rooms:
  - id: bench
    paths: ["/tickets/*"]
    rate_per_minute: 1000000
    max_active: 1000000
    session: 1h
cache:
  rules:
    - name: landing
      paths: ["/*"]
      ttl: 1s
      max_bytes: 64MiB
      stale_while_revalidate: 10s
      stale_if_error: 5m
      lock_timeout: 5s
CONF
"$work/usher" gateway -config "$work/usher.yaml" -check > "$work/check.log" 2>&1 || {
	echo "usher rejects the benchmark's configuration (does this build know the cache: section?):" >&2
	cat "$work/check.log" >&2
	exit 1
}

taskset -c 0 "$work/slowpage" -listen "$ORIGIN" -delay "${DELAY_MS}ms" -max-age 1 2>"$work/origin.log" &
pids="$pids $!"
taskset -c 1 nginx -c "$work/proxy.conf" -p "$work" -e "$work/proxy.err"
GOMAXPROCS=1 taskset -c 1 "$work/usher" gateway -config "$work/usher.yaml" 2>"$work/usher.log" &
usher_pid=$!
pids="$pids $usher_pid"
up=""
for _ in $(seq 100); do
	if curl -sf "http://$ORIGIN/_count" >/dev/null 2>&1 && curl -sf "http://$NGINX/_count" >/dev/null 2>&1 &&
		curl -sf "http://$USHER/_usher/readyz" >/dev/null 2>&1; then
		up=yes
		break
	fi
	kill -0 "$usher_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$up" ]; then
	curl -sf "http://$ORIGIN/_count" >/dev/null 2>&1 || { echo "the origin did not come up:" >&2; cat "$work/origin.log" >&2; exit 1; }
	curl -sf "http://$NGINX/_count" >/dev/null 2>&1 || { echo "nginx did not come up:" >&2; cat "$work/proxy.err" >&2; exit 1; }
	echo "usher did not come up:" >&2
	cat "$work/usher.log" >&2
	exit 1
fi
# The page as the origin serves it (one request, before any run), and as
# each proxy passes it on.
curl -sf "http://$ORIGIN/" > "$work/page"
for p in nginx usher; do
	case $p in nginx) addr=$NGINX ;; usher) addr=$USHER ;; esac
	curl -sf "http://$addr/" > "$work/got" || true
	cmp -s "$work/got" "$work/page" || { echo "$p did not serve the page:" >&2; head -c 300 "$work/got" >&2; cat "$work/proxy.err" "$work/usher.log" >&2; exit 1; }
done

count() { curl -sf "http://$ORIGIN/_count"; }
settle=$(awk -v d="$DELAY_MS" 'BEGIN {printf "%.1f", (d + 300) / 1000}')

run() { # name url
	case $1 in
	nginx) cpids=$(pgrep -P "$(cat "$work/proxy.pid")") ;; # the worker and the cache manager
	usher) cpids=$usher_pid ;;
	esac
	# Warm-up, not measured: this proxy last filled its cache a whole run of
	# the other proxy ago, so one request fills (or starts refreshing) its
	# entry; then wait out the origin's delay so that the fill is not
	# counted in the run's origin requests.
	curl -sf -o /dev/null "$2" || true
	sleep "$settle"
	o_before=$(count)
	# shellcheck disable=SC2086 # one pid per word
	before=$(cpu_ticks $cpids)
	taskset -c 0 wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$2" > "$work/$1.out"
	# shellcheck disable=SC2086
	after=$(cpu_ticks $cpids)
	o_after=$(count)
	rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$1.out")
	reqs=$(awk '/requests in/ {print $1}' "$work/$1.out")
	p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; printf "%.2f", v}' "$work/$1.out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$1.out")
	sockerr=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/$1.out")
	sockline=$(awk '/Socket errors/ {sub(/^ */, ""); print}' "$work/$1.out")
	origin=$((o_after - o_before))
	origin_rate=$(awk -v o="$origin" -v d="$DURATION" 'BEGIN {printf "%.2f", o / d}')
	# CPU time the proxy under test spent per request: robust where two
	# cores make saturation figures depend on the load generator.
	cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}')
	echo "$1 $rps $p99 $cpu ${non2xx:-0} ${sockerr:-0} $origin $origin_rate" >> "$work/results"
	printf '  %-6s %10s req/s   p99 %8s ms  %6s CPU-us/req  non-2xx %s  origin %4s req (%s/s)  %s\n' \
		"$1" "$rps" "$p99" "$cpu" "${non2xx:-0}" "$origin" "$origin_rate" "$sockline"
}

echo "cache benchmark: wrk -t2 -c$CONNS -d${DURATION}s, origin delay ${DELAY_MS}ms max-age 1s, $ROUNDS interleaved rounds, $(nproc) CPUs, ulimit -n $nofile"
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	run nginx "http://$NGINX/"
	run usher "http://$USHER/"
done

col() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results" | median; }
echo "medians"
printf '  %-6s %10s  %9s  %10s  %8s  %8s  %10s  %8s\n' "" "req/s" "p99 ms" "CPU-us/req" "non-2xx" "sock-err" "origin req" "origin/s"
for name in nginx usher; do
	printf '  %-6s %10s  %9s  %10s  %8s  %8s  %10s  %8s\n' "$name" "$(col $name 2)" "$(col $name 3)" "$(col $name 4)" \
		"$(col $name 5)" "$(col $name 6)" "$(col $name 7)" "$(col $name 8)"
done
echo "ratios usher / nginx (throughput)"
round_ratios nginx usher | awk '{printf "  round %d  %.2f\n", NR, $1}'
ratio=$(round_ratios nginx usher | median)
cpu_ratio=$(awk -v u="$(col usher 4)" -v n="$(col nginx 4)" 'BEGIN {printf "%.2f", n ? u / n : 0}')
printf '  median   %.2f\n' "$ratio"
echo "ratio usher / nginx (CPU per request, lower is better)"
printf '  of the medians  %s\n' "$cpu_ratio"
