#!/bin/sh
# Joins per second through the gateway with Redis, against a baseline of the
# same run: wrk sends requests for a protected page without cookies, as new
# visitors do, to
#   usher    usher gateway with Redis, the room paused: every request joins
#            the line (one Redis script) and gets a signed ticket and the
#            429 status JSON, so every answer is a join
#   nginx    nginx answering the same URL with a fixed 429 and the answer
#            usher gave to a probe: the same JSON body, byte for byte, and
#            the same Cache-Control, Retry-After and Set-Cookie headers
# nginx shows what this machine's HTTP stack and wrk manage for an answer of
# that shape with no work behind it, so usher / nginx is the share of a
# trivial server's throughput that usher keeps while doing real joins.
# Loopback is on the room's shield allow list: wrk looks like the HTTP
# library it is, and would otherwise get challenges and per-client limits
# instead of places in line.
# For every usher run the joins Redis counted are checked against the
# requests wrk made.
#
# Each server runs on CPU 1 with one thread (nginx: 1 worker; usher:
# GOMAXPROCS=1) and wrk on CPU 0; Redis is not pinned and shares both
# cores with them. Runs are interleaved, ROUNDS times, and the medians and
# the usher/nginx ratios are printed, with each server's CPU time per
# request.
#
# Needs nginx, wrk, curl, Go and a Redis at USHER_BENCH_REDIS_URL (default
# redis://127.0.0.1:6379/0) with redis-cli (Debian: apt-get install
# nginx-light wrk redis-tools); uses and then deletes keys under
# usher-bench-PID:.
# Usage: bench/joins.sh [seconds per run, default 10] [connections, default 128] [rounds, default 3]
set -eu
DURATION=${1:-10}
CONNS=${2:-128}
ROUNDS=${3:-3}
REDIS_URL=${USHER_BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
. bench/lib.sh
need nginx wrk taskset curl go redis-cli
chmod 755 "$work" # nginx workers may run as another user
prefix="usher-bench-$$:"
usher_pid=""
cleanup() {
	if [ -n "$usher_pid" ]; then kill "$usher_pid" 2>/dev/null || true; fi
	if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
	redis-cli -u "$REDIS_URL" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
	sleep 0.3
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
[ -n "${BENCH_DEBUG:-}" ] && set -x

USHER=127.0.0.1:18090
NGINX=127.0.0.1:18094
URL_PATH=/events/1

go build -o "$work/usher" .
"$work/usher" keygen -out "$work/key.pem" >/dev/null
cat > "$work/gateway.yaml" <<CONF
listen: "$USHER"
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
    shield: {allow: ["127.0.0.1"]}
CONF
GOMAXPROCS=1 taskset -c 1 "$work/usher" gateway -config "$work/gateway.yaml" 2>"$work/usher.log" &
usher_pid=$!
for _ in $(seq 50); do
	curl -sf "http://$USHER/_usher/readyz" >/dev/null 2>&1 && break
	kill -0 "$usher_pid" 2>/dev/null || break
	sleep 0.1
done

# joined: the joins Redis has counted in the room so far.
joined() {
	n=$(redis-cli -u "$REDIS_URL" hget "$prefix{bench}:q" joined)
	echo "${n:-0}"
}

# One probe, the answer every run's requests get: its body and headers are
# what nginx will serve. It must be a join (Redis counts it), not a
# challenge or a limit.
code=$(curl -s -D "$work/join.head" -o "$work/join.json" -w '%{http_code}' -H 'Accept: application/json' "http://$USHER$URL_PATH" || true)
if [ "$code" != 429 ] || [ "$(joined)" != 1 ] || ! grep -q '"position":' "$work/join.json"; then
	echo "the probe was not a join (status ${code:-none}, Redis counts $(joined) joins):" >&2
	cat "$work/join.head" "$work/join.json" "$work/usher.log" >&2 2>/dev/null || true
	exit 1
fi
# header NAME: the value of the probe answer's header NAME.
header() { tr -d '\r' < "$work/join.head" | awk -v n="$1" 'index($0, ":") {h = substr($0, 1, index($0, ":") - 1); if (tolower(h) == tolower(n)) {sub(/^[^:]*: */, ""); print; exit}}'; }
# conf_string: stdin (one line and an optional final newline) as the inside
# of a single-quoted nginx string. nginx would expand a $, so none may occur.
conf_string() {
	s=$(cat)
	case $s in *'$'* | *"
"*) return 1 ;; esac
	printf '%s' "$s" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"
}
no_conf() { echo "cannot put usher's answer into nginx's config:" >&2; cat "$work/join.head" "$work/join.json" >&2; exit 1; }
body=$(conf_string < "$work/join.json") || no_conf
[ "$(tail -c 1 "$work/join.json" | od -An -c | tr -d ' ')" = '\n' ] && body="$body\\n"
cache_control=$(header Cache-Control | conf_string) || no_conf
retry_after=$(header Retry-After | conf_string) || no_conf
set_cookie=$(header Set-Cookie | conf_string) || no_conf
[ -n "$set_cookie" ] || { echo "no ticket cookie in usher's answer:" >&2; cat "$work/join.head" >&2; exit 1; }

{ nginx_head nginx; cat <<CONF; } > "$work/nginx.conf"
  server_tokens off;
  server {
    listen $NGINX backlog=4096;
    keepalive_requests 1000000;
    location / {
      default_type application/json;
      add_header Cache-Control '$cache_control' always;
      add_header Retry-After '$retry_after' always;
      add_header Set-Cookie '$set_cookie' always;
      return 429 '$body';
    }
  }
}
CONF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work" -e "$work/nginx.err"
for _ in $(seq 50); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$NGINX$URL_PATH" 2>/dev/null)" = 429 ] && break
	sleep 0.1
done
code=$(curl -s -D "$work/nginx.head" -o "$work/nginx.json" -w '%{http_code} %{content_type}' -H 'Accept: application/json' "http://$NGINX$URL_PATH" || true)
if [ "$code" != "429 application/json" ] || ! cmp -s "$work/nginx.json" "$work/join.json"; then
	echo "nginx does not give usher's answer (status and type: ${code:-none}):" >&2
	cat "$work/nginx.head" "$work/nginx.json" "$work/nginx.err" >&2 2>/dev/null || true
	exit 1
fi
size() { wc -c < "$1" | tr -d ' '; }


run() { # name
	case $1 in
	nginx) pid=$(pgrep -P "$(cat "$work/nginx.pid")" | head -n 1) addr=$NGINX ;;
	usher) pid=$usher_pid addr=$USHER ;;
	esac
	j_before=$(joined)
	before=$(cpu_ticks "$pid")
	taskset -c 0 wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H 'Accept: application/json' "http://$addr$URL_PATH" > "$work/$1.out"
	after=$(cpu_ticks "$pid")
	j_after=$(joined)
	rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$1.out")
	reqs=$(awk '/requests in/ {print $1}' "$work/$1.out")
	p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; printf "%.2f", v}' "$work/$1.out")
	# Bytes read per answer, headers included, from wrk's total (KiB, MiB).
	bpa=$(awk -v n="$reqs" '/requests in/ {v = $5; m = 1; if (v ~ /KB$/) m = 1024; else if (v ~ /MB$/) m = 1048576; else if (v ~ /GB$/) m = 1073741824; printf "%.0f", n ? v * m / n : 0}' "$work/$1.out")
	non429=$(awk -v n="$reqs" '/Non-2xx/ {x = $NF} END {print n - x}' "$work/$1.out")
	sockline=$(awk '/Socket errors/ {sub(/^ */, ""); print}' "$work/$1.out")
	# CPU time the server under test spent per request: robust where two
	# cores make saturation figures depend on the load generator.
	cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}')
	echo "$1 $rps $p99 $cpu" >> "$work/results"
	printf '  %-6s %10s req/s   p99 %8s ms  %6s CPU-us/req  %4s B/answer  not 429: %s  %s\n' \
		"$1" "$rps" "$p99" "$cpu" "$bpa" "$non429" "$sockline"
	[ "$1" = usher ] || return 0
	# Every answered request joined once; at most one request per
	# connection is left unanswered (but joined) when wrk stops.
	joins=$((j_after - j_before))
	cut=$((joins - reqs))
	echo "         Redis counted $joins joins for $reqs requests answered ($cut cut off when wrk stopped)"
	if [ "$cut" -lt 0 ] || [ "$cut" -gt "$CONNS" ]; then
		echo "joins and requests disagree beyond what wrk cuts off at the end" >&2
		exit 1
	fi
}

echo "joins benchmark: wrk -t2 -c$CONNS -d${DURATION}s, Accept: application/json, $ROUNDS interleaved rounds, $(nproc) CPUs"
echo "answer: usher $(size "$work/join.head") B of headers + $(size "$work/join.json") B of body; nginx $(size "$work/nginx.head") + $(size "$work/nginx.json") (probe, position 1)"
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	run nginx
	run usher
done

col() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results" | median; }
echo "medians"
printf '  %-6s %10s  %9s  %10s\n' "" "req/s" "p99 ms" "CPU-us/req"
for name in nginx usher; do
	printf '  %-6s %10s  %9s  %10s\n' "$name" "$(col $name 2)" "$(col $name 3)" "$(col $name 4)"
done
echo "ratios usher / nginx (throughput: joins/s over baseline answers/s)"
round_ratios nginx usher | awk '{printf "  round %d  %.2f\n", NR, $1}'
ratio=$(round_ratios nginx usher | median)
cpu_ratio=$(awk -v u="$(col usher 4)" -v n="$(col nginx 4)" 'BEGIN {printf "%.2f", n ? u / n : 0}')
printf '  median   %.2f\n' "$ratio"
echo "ratio usher / nginx (CPU per request, higher is costlier)"
printf '  of the medians  %s\n' "$cpu_ratio"
