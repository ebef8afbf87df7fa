#!/bin/sh
# Proxy throughput, side by side on this machine: wrk with keep-alive against
#   direct   the origin itself (nginx returning a fixed 1 KiB page)
#   nginx    nginx proxy_pass in front of it (one worker, upstream keep-alive)
#   usher    usher gateway in front of it, every request checked for a pass
#   usher-0  usher gateway on a path no room protects (the proxy alone)
# Each proxy runs on CPU 1 with one thread (nginx: 1 worker; usher:
# GOMAXPROCS=1); the origin and wrk share CPU 0. Runs are interleaved, ROUNDS
# times, and the medians and the usher/nginx ratios are printed.
#
# Needs nginx and wrk (Debian: apt-get install nginx-light wrk).
# Usage: bench/proxy.sh [seconds per run, default 10] [rounds, default 3]
set -eu
DURATION=${1:-10}
ROUNDS=${2:-3}
CONNS=${CONNS:-64}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
. bench/lib.sh
need nginx wrk taskset
chmod 755 "$work" # nginx workers may run as another user
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/origin.pid" ] && kill "$(cat "$work/origin.pid")" 2>/dev/null || true
	[ -f "$work/proxy.pid" ] && kill "$(cat "$work/proxy.pid")" 2>/dev/null || true
	sleep 0.3
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
[ -n "${BENCH_DEBUG:-}" ] && set -x

ORIGIN=127.0.0.1:18081
NGINX=127.0.0.1:18082
USHER=127.0.0.1:18083

head -c 1024 /dev/zero | tr '\0' 'x' > "$work/page"
{ nginx_head origin; cat <<CONF; } > "$work/origin.conf"
  server {
    listen $ORIGIN reuseport backlog=4096;
    keepalive_requests 1000000;
    location / { root $work; try_files /page =404; default_type text/html; }
  }
}
CONF
{ nginx_head proxy; cat <<CONF; } > "$work/proxy.conf"
  upstream origin { server $ORIGIN; keepalive 128; keepalive_requests 1000000; }
  server {
    listen $NGINX backlog=4096;
    keepalive_requests 1000000;
    location / {
$(nginx_proxy)
    }
  }
}
CONF

go build -o "$work/usher" .
"$work/usher" keygen -out "$work/key.pem" >/dev/null
cat > "$work/gateway.yaml" <<CONF
listen: "$USHER"
admin_listen: ""
plain_http: true
origin: {url: "http://$ORIGIN", max_conns: 128}
tokens: {key_files: ["$work/key.pem"]}
log: {level: warn}
server: {concurrency: 100000}
rooms:
  - id: bench
    paths: ["/protected/*"]
    rate_per_minute: 1000000
    max_active: 1000000
    session: 1h
    # One client makes every request: no per-client limit on them.
    limits: {admitted: {per_minute: 0}}
CONF

taskset -c 0 nginx -c "$work/origin.conf" -p "$work"
taskset -c 1 nginx -c "$work/proxy.conf" -p "$work"
GOMAXPROCS=1 taskset -c 1 "$work/usher" gateway -config "$work/gateway.yaml" 2>"$work/usher.log" &
usher_pid=$!
pids="$pids $usher_pid"
for i in $(seq 50); do
	curl -sf "http://$USHER/_usher/readyz" >/dev/null 2>&1 && curl -sf "http://$NGINX/" >/dev/null 2>&1 && break
	sleep 0.1
done
# A pass, as an admitted visitor holds it: the empty room admits at once.
# The load comes with a browser's headers, so that the bot score, which
# every request in a room meets, finds nothing against it.
UA="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
LANG_HEADER="en-GB,en;q=0.9"
pass=$(curl -si -A "$UA" -H "Accept-Language: $LANG_HEADER" -H "Accept: text/html" "http://$USHER/protected/page" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: usher_pass_bench=\([^;]*\).*/\1/p')
[ -n "$pass" ] || { echo "no pass from usher" >&2; cat "$work/usher.log" >&2; exit 1; }
curl -sf -A "$UA" -H "Accept-Language: $LANG_HEADER" -H "Cookie: usher_pass_bench=$pass" "http://$USHER/protected/page" > "$work/got" || true; cmp -s "$work/got" "$work/page" || { echo "usher did not proxy the page:" >&2; head -c 300 "$work/got" >&2; cat "$work/usher.log" >&2; exit 1; }

# Every server gets the same request, the pass cookie included, so that
# each run moves the same bytes and only usher's room reads the pass.
run() { # name url
	case $1 in
	nginx) pid=$(pgrep -P "$(cat "$work/proxy.pid")" | head -n 1) ;;
	usher*) pid=$usher_pid ;;
	*) pid=$(pgrep -P "$(cat "$work/origin.pid")" | head -n 1) ;;
	esac
	before=$(cpu_ticks "$pid")
	taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "User-Agent: $UA" -H "Accept-Language: $LANG_HEADER" \
		-H "Cookie: usher_pass_bench=$pass" "$2" > "$work/$1.out"
	after=$(cpu_ticks "$pid")
	rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$1.out")
	reqs=$(awk '/requests in/ {print $1}' "$work/$1.out")
	p99=$(awk '$1 == "99%" {print $2}' "$work/$1.out")
	errs=$(awk '/Non-2xx|Socket errors/ {print}' "$work/$1.out")
	# CPU time the server under test spent per request: robust where two
	# cores make saturation figures depend on the load generator.
	cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	echo "$1 $rps $p99 $cpu" >> "$work/results"
	printf '  %-8s %10s req/s   p99 %-8s  %6s CPU-us/req %s\n' "$1" "$rps" "$p99" "$cpu" "$errs"
}

echo "proxy benchmark: wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS interleaved rounds, $(nproc) CPUs"
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	run direct "http://$ORIGIN/page"
	run nginx "http://$NGINX/page"
	run usher "http://$USHER/protected/page"
	run usher-0 "http://$USHER/page"
done

echo "medians"
for name in direct nginx usher usher-0; do
	rps=$(awk -v n="$name" '$1 == n {print $2}' "$work/results" | median)
	p99=$(awk -v n="$name" '$1 == n {print $3}' "$work/results" | sed 's/ms$//; s/us$/e-3/' | awk '{printf "%.3f\n", $1}' | median)
	cpu=$(awk -v n="$name" '$1 == n {print $4}' "$work/results" | median)
	printf '  %-8s %10s req/s   p99 %s ms   %s CPU-us/req\n' "$name" "$rps" "$p99" "$cpu"
	eval "rps_$(echo $name | tr - _)=$rps"
	eval "cpu_$(echo $name | tr - _)=$cpu"
done
awk -v u="$rps_usher" -v u0="$rps_usher_0" -v n="$rps_nginx" -v d="$rps_direct" -v cu="$cpu_usher" -v cu0="$cpu_usher_0" -v cn="$cpu_nginx" 'BEGIN {
	printf "ratios (throughput)\n  usher / nginx    %.2f  (with the pass check)\n  usher-0 / nginx  %.2f  (proxy alone)\n  nginx / direct   %.2f\n  usher / direct   %.2f\n", u/n, u0/n, n/d, u/d
	printf "ratios (CPU per request, lower is better)\n  usher / nginx    %.2f\n  usher-0 / nginx  %.2f\n", cu/cn, cu0/cn }'
