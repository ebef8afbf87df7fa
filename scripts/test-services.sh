#!/bin/sh
# Makes sure what the tests use is on this machine: Redis on 127.0.0.1:6379,
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth, database test), and
# Debian's chromium for the browser tests. A service that already answers is
# left alone; a missing one is installed with apt-get (Debian) and started.
# Set USHER_TEST_REDIS_URL to use another Redis instead.
set -eu

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
	echo "installing $*" >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for "what" command...
	what=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 50 ]; then
			echo "$what did not start" >&2
			exit 1
		fi
		sleep 0.2
	done
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }

if [ -z "${USHER_TEST_REDIS_URL:-}" ]; then
	command -v redis-cli >/dev/null 2>&1 || apt_install redis-server
	if ! redis_up 2>/dev/null; then
		echo "starting redis on 127.0.0.1:6379" >&2
		as_root mkdir -p /var/lib/redis /var/log/redis
		as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/test.log
		wait_for redis redis_up
	fi
fi

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }

command -v pg_isready >/dev/null 2>&1 || apt_install postgresql
if ! pg_up 2>/dev/null; then
	echo "starting postgresql on 127.0.0.1:5432" >&2
	version=$(ls /etc/postgresql | sort -n | tail -n 1)
	hba=/etc/postgresql/$version/main/pg_hba.conf
	# Tests connect as postgres over TCP without a password.
	if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
		as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
	fi
	as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
	wait_for postgresql pg_up
fi
if ! psql -h 127.0.0.1 -U postgres -d test -tAc 'select 1' >/dev/null 2>&1; then
	psql -h 127.0.0.1 -U postgres -tAc 'create database test' >/dev/null
fi

# The browser tests drive Debian's chromium; it is never downloaded by a test.
command -v chromium >/dev/null 2>&1 || apt_install chromium
