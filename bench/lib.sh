# What the benchmark scripts share; they source it after setting $work, a
# directory of their own.

# need TOOL...: stop unless every tool is on the PATH.
need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 ||
			{ echo "$0 needs $tool (Debian: apt-get install nginx-light wrk redis-tools)" >&2; exit 1; }
	done
}

# nginx_head NAME [CONNECTIONS]: the start of an nginx configuration, up to
# the inside of its http block: one worker, whose pid file ($work/NAME.pid),
# error log ($work/NAME.err) and temporary files stay in $work, so nginx
# runs without root's paths, and no access log.
nginx_head() {
	mkdir -p "$work/tmp"
	cat <<CONF
worker_processes 1;
pid $work/$1.pid;
error_log $work/$1.err warn;
events { worker_connections ${2:-4096}; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
CONF
}

# nginx_proxy: the inside of a location that passes requests to the
# upstream "origin" as usher does: HTTP/1.1 with keep-alive, the Host kept,
# the X-Forwarded-* headers set.
nginx_proxy() {
	cat <<'CONF'
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
CONF
}

# cpu_ticks PID...: the user and system CPU time of the processes so far,
# in clock ticks.
cpu_ticks() { for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done | awk '{t += $14 + $15} END {print t + 0}'; }
HZ=$(getconf CLK_TCK)

# median: the middle of the numbers on standard input (of an even count,
# the lower of the two in the middle).
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# round_ratios A B: B's second column over A's, from $work/results, where
# each run wrote a line "name value...": one line a round.
round_ratios() {
	awk -v a="$1" -v b="$2" '$1 == a {x[++i] = $2} $1 == b {y[++j] = $2} END {
		for (r = 1; r <= j; r++) printf "%.4f\n", y[r] / x[r] }' "$work/results"
}
