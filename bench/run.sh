#!/usr/bin/env bash
# bench/run.sh — throughput, latency, proxy CPU and idle-connection memory of
# direct PostgreSQL vs PgBouncer vs pgshard, with pgbench on loopback, no
# Docker. A benchmark, not a test: it never fails on slow numbers. See
# bench/README.md for what it measures, the knobs and how to read the table.
#
# Runs as root (PostgreSQL and PgBouncer run as the `postgres` user through
# runuser). Everything lives in one temp dir and binds only 127.0.0.1; every
# process it starts is stopped by PID on exit, Ctrl-C included.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD

# ---------------------------------------------------------------- knobs ----
PGBIN=${BENCH_PGBIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${BENCH_PG_PORT:-55432}
PGBOUNCER_PORT=${BENCH_PGBOUNCER_PORT:-56432}
PGSHARD_PORT=${BENCH_PGSHARD_PORT:-6433}
GORELAY_PORT=${BENCH_GORELAY_PORT:-6434}
PGSHARD_PS_PORT=${BENCH_PGSHARD_PS_PORT:-6435}
TARGETS=${BENCH_TARGETS:-direct pgbouncer gorelay pgshard pgshard-ps}
MODES=${BENCH_MODES:-simple extended prepared}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	REPS=${BENCH_REPS:-1}
	DURATION=${BENCH_SECONDS:-3}
	CLIENTS=${BENCH_CLIENTS:-8}
else
	REPS=${BENCH_REPS:-3}
	DURATION=${BENCH_SECONDS:-10}
	CLIENTS=${BENCH_CLIENTS:-1 8 64}
fi
SCALE=${BENCH_SCALE:-10}
POOL_SIZE=${BENCH_POOL_SIZE:-20}
IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
PGSHARD_BIN=${BENCH_PGSHARD_BIN:-}
PGSHARD_ARGS=${BENCH_PGSHARD_ARGS:-}
# tcp: pgbench reaches every target on 127.0.0.1; unix: through each one's
# Unix socket, as a sidecar's application would (gorelay has none).
SOCKET=${BENCH_SOCKET:-tcp}
PASSWORD=${BENCH_PASSWORD:-bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')}
OUT_DIR=$REPO/bench/out
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$OUT_DIR/results-$STAMP.md

# ------------------------------------------------------------- helpers ----
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in PG_PORT PGBOUNCER_PORT PGSHARD_PORT GORELAY_PORT PGSHARD_PS_PORT REPS DURATION SCALE POOL_SIZE IDLE_CONNS; do
	is_uint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"
done
for c in $CLIENTS; do
	if ! is_uint "$c" || [ "$c" -eq 0 ]; then die "BENCH_CLIENTS: bad client count '$c'"; fi
done
case $SOCKET in tcp | unix) ;; *) die "BENCH_SOCKET: want tcp or unix, got '$SOCKET'" ;; esac
for m in $MODES; do
	case $m in simple | extended | prepared) ;; *) die "BENCH_MODES: unknown mode '$m'" ;; esac
done
for t in $TARGETS; do
	case $t in direct | pgbouncer | gorelay | pgshard | pgshard-ps) ;; *) die "BENCH_TARGETS: unknown target '$t' (want direct, pgbouncer, gorelay, pgshard, pgshard-ps)" ;; esac
done
[ "$REPS" -ge 1 ] || die "BENCH_REPS must be at least 1"
if [ "$(printf '%s\n' "$PG_PORT" "$PGBOUNCER_PORT" "$PGSHARD_PORT" "$GORELAY_PORT" "$PGSHARD_PS_PORT" | sort -u | wc -l)" != 5 ]; then
	die "the five ports must differ"
fi

has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

# Libpq environment that would redirect or alter our connections.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSFILE PGSERVICE PGSERVICEFILE \
	PGOPTIONS PGSSLMODE PGREQUIRESSL PGGSSENCMODE PGTARGETSESSIONATTRS PGCONNECT_TIMEOUT
export PGPASSWORD=$PASSWORD PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=10

# Alive and not a zombie.
alive() {
	local pid=$1 stat
	[ -n "$pid" ] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat:0:1}" != Z ]
}

# utime+stime of a process (all its threads), in clock ticks.
cpu_ticks() {
	local stat f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r -a f <<<"${stat##*) }"
	echo $((f[11] + f[12]))
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# SIGTERM, up to $2 seconds of grace, then SIGKILL. Reaps it if it is our child.
stop_pid() {
	local pid=$1 grace=${2:-10} i
	[ -n "$pid" ] || return 0
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			log "pid $pid ignored SIGTERM for ${grace}s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

# runuser (and go run) stay the parent of what they run: once that has been
# stopped, give the wrapper $2 tenths of a second (default 5 s) to reap it
# and exit on its own, then stop the wrapper too.
reap_wrapper() {
	local pid=$1 grace=${2:-50} i
	[ -n "$pid" ] || return 0
	for ((i = 0; i < grace; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	stop_pid "$pid" 5
}

port_in_use() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command as the postgres user from inside the temp dir (the user
# cannot necessarily read the caller's working directory). runuser's
# pam_limits resets the soft open-file limit to 1024; RAISE_NOFILE sets it
# back to ours. For a background process, repeat the subshell inline so that
# $! is runuser's PID.
# shellcheck disable=SC2016 # expanded by the inner sh
RAISE_NOFILE='ulimit -n "$0" 2>/dev/null; exec "$@"'
as_pg() { (cd "$TMP" && exec runuser -u postgres -- sh -c "$RAISE_NOFILE" "$(ulimit -n)" "$@"); }

# The line worth showing from a log: the first error if there is one, else
# the first complaint, else the last line. One line, no tabs, at most 200 chars.
first_error() {
	local line
	line=$(grep -m1 -E 'error|ERROR|FATAL|fatal|panic' "$1" 2>/dev/null) ||
		line=$(grep -m1 -E 'aborted|failed|could not|unknown|unexpected|invalid' "$1" 2>/dev/null) ||
		line=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n1) || true
	oneline "${line:-no output}"
}
oneline() {
	local s=${1%%$'\n'*}
	s=${s//$'\t'/ }
	[ ${#s} -le 200 ] || s="${s:0:197}..."
	printf '%s' "$s"
}

apt_install() {
	local made_policy=0
	log "installing missing packages: $*"
	# Keep Debian's maintainer scripts from starting the packaged services
	# (a default cluster on 5432, a pgbouncer on 6432) while installing.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; } || rc=$?
	[ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
	return "$rc"
}

# ------------------------------------------------------- report helpers ----
# Defined up front so that an interrupted run can still write what it has.
summary_table() {
	local na_list=
	for t in $TARGETS; do
		[ -z "${NA[$t]:-}" ] || na_list+="$t"$'\t'"${NA[$t]}"$'\n'
	done
	NA_LIST=$na_list awk -F'\t' -v modes="$MODES" -v clients="$CLIENTS" -v targets="$TARGETS" '
	function md(s) { gsub(/\|/, "\\|", s); return s }
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
		return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	BEGIN {
		nm = split(modes, M, " "); nc = split(clients, C, " "); nt = split(targets, T, " ")
		nn = split(ENVIRON["NA_LIST"], L, "\n")
		for (i = 1; i <= nn; i++) if (L[i] != "") { split(L[i], kv, "\t"); NA[kv[1]] = md(kv[2]) }
	}
	{
		k = $2 SUBSEP $3 SUBSEP $4
		runs[k]++
		if ($5 == "ok") {
			ok[k]++; TPS[k, ok[k]] = $6 + 0
			if ($7 != "-") { nl[k]++; LAT[k, nl[k]] = $7 + 0 }
			if ($10 != "-") { ncpu[k]++; CPU[k, ncpu[k]] = $10 + 0 }
			fails[k] += $8
		} else {
			nf[k]++
			if (!(k in ferr)) ferr[k] = md($11)
			if ($8 != "-") fails[k] += $8
		}
	}
	END {
		print "| mode | clients | target | TPS (median) | latency ms (median) | failed tx (sum) | proxy CPU µs/tx (median) | TPS vs direct | TPS vs pgbouncer |"
		print "|---|---:|---|---:|---:|---:|---:|---:|---:|"
		for (mi = 1; mi <= nm; mi++) for (ci = 1; ci <= nc; ci++) {
			m = M[mi]; c = C[ci]
			for (ti = 1; ti <= nt; ti++) {
				t = T[ti]; k = m SUBSEP c SUBSEP t
				medtps[t] = ""
				if (ok[k] > 0) {
					for (i = 1; i <= ok[k]; i++) v[i] = TPS[k, i]
					medtps[t] = median(v, ok[k])
				}
			}
			for (ti = 1; ti <= nt; ti++) {
				t = T[ti]; k = m SUBSEP c SUBSEP t
				if (t == "pgshard-ps" && m != "simple") continue # the option changes simple queries only
				if (!(k in runs)) {
					why = (t in NA) ? t ": not available (" NA[t] ")" : "not run"
					printf "| %s | %s | %s | %s | - | - | - | - | - |\n", m, c, t, why
					continue
				}
				if (ok[k] == 0) {
					printf "| %s | %s | %s | FAIL (%d/%d): %s | - | %s | - | - | - |\n", m, c, t, nf[k], runs[k], ferr[k], (k in fails) ? fails[k] : "-"
					continue
				}
				tps = sprintf("%.0f", medtps[t])
				if (nf[k] > 0) tps = tps sprintf(" (%d/%d FAIL)", nf[k], runs[k])
				lat = "-"; if (nl[k] > 0) { for (i = 1; i <= nl[k]; i++) v[i] = LAT[k, i]; lat = sprintf("%.3f", median(v, nl[k])) }
				cpu = "-"; if (ncpu[k] > 0) { for (i = 1; i <= ncpu[k]; i++) v[i] = CPU[k, i]; cpu = sprintf("%.1f", median(v, ncpu[k])) }
				rd = (medtps["direct"] != "" && medtps["direct"] > 0) ? sprintf("%.2f", medtps[t] / medtps["direct"]) : "-"
				rb = (medtps["pgbouncer"] != "" && medtps["pgbouncer"] > 0) ? sprintf("%.2f", medtps[t] / medtps["pgbouncer"]) : "-"
				printf "| %s | %s | %s | %s | %s | %d | %s | %s | %s |\n", m, c, t, tps, lat, fails[k], cpu, rd, rb
			}
		}
	}' "$TMP/raw.tsv"
}

rss_table() {
	[ ${#RSS_ROWS[@]} -gt 0 ] || return 0
	echo "| proxy | idle clients | RSS before MiB | RSS with clients MiB | delta MiB | KiB per client | peak RSS MiB | note |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|"
	printf '%s\n' "${RSS_ROWS[@]}" | awk -F'\t' '
	function md(s) { gsub(/\|/, "\\|", s); return s }
	function mib(k) { return (k == "-" || k == "") ? "-" : sprintf("%.1f", k / 1024) }
	{
		if ($6 == "ok") {
			per = ($2 > 0) ? sprintf("%.1f", ($4 - $3) / $2) : "-"
			printf "| %s | %s | %s | %s | %s | %s | %s | |\n", $1, $2, mib($3), mib($4), mib($4 - $3), per, mib($5)
		} else {
			printf "| %s | - | %s | - | - | - | - | %s |\n", $1, mib($3), md($6)
		}
	}'
}

raw_table() {
	echo "| rep | mode | clients | target | status | TPS | latency ms | failed tx | transactions | proxy CPU µs/tx | note |"
	echo "|---:|---|---:|---|---|---:|---:|---:|---:|---:|---|"
	awk -F'\t' '
	function md(s) { gsub(/\|/, "\\|", s); return s }
	{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, md($11) }' "$TMP/raw.tsv"
}

write_report() {
	local title=${1:-} rev dirty=
	rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ -z "$(git -C "$REPO" status --porcelain 2>/dev/null)" ] || dirty=" (uncommitted changes)"
	{
		echo "# pgshard benchmark $STAMP${title:+ — $title}"
		echo
		echo "- commit: $rev$dirty"
		echo "- host: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
		echo "- PostgreSQL ${PG_VERSION:-?} (fsync=off, shared_buffers=256MB, max_connections=300), pgbench -i -s $SCALE"
		echo "- PgBouncer: ${PGBOUNCER_VERSION:-n/a}; pgshard: ${PGSHARD_VERSION:-n/a}; both transaction pooling, pool size $POOL_SIZE"
		has_target gorelay && echo "- gorelay: bench/gorelay, the floor of a Go proxy (one server connection per client, no parsing)"
		has_target pgshard-ps && echo "- pgshard-ps: pgshard with \`pool.prepare_simple: true\` (simple queries run as server-side prepared statements); simple mode only"
		echo "- workload: pgbench -n -S -M <mode> -c <clients> -j min(clients,2) -T $DURATION, $REPS repetition(s), targets alternating: $TARGETS"
		if [ "$SOCKET" = unix ]; then
			echo "- pgbench connects to each target through its Unix socket (BENCH_SOCKET=unix), the proxies to PostgreSQL over 127.0.0.1; client sslmode=disable; pgbench shares the $(nproc) cores with the servers"
		else
			echo "- everything on 127.0.0.1, client sslmode=disable; pgbench shares the $(nproc) cores with the servers"
		fi
		for t in $TARGETS; do
			[ -z "${NA[$t]:-}" ] || echo "- $t: not available (${NA[$t]})"
		done
		echo
		echo "## Select-only throughput"
		echo
		summary_table
		if [ ${#RSS_ROWS[@]} -gt 0 ]; then
			echo
			echo "## Memory with $IDLE_CONNS idle clients"
			echo
			rss_table
		fi
		echo
		echo "## Raw runs"
		echo
		raw_table
	} >"$REPORT"
	REPORT_DONE=1
}

# ------------------------------------------------------ state + cleanup ----
TMP=
PG_STARTED=0
PG_WRAPPER_PID=
POSTMASTER_PID=
PGBOUNCER_PID=
PGBOUNCER_WRAPPER_PID=
PGSHARD_PID=
PGSHARD_PS_PID=
GORELAY_PID=
PGBENCH_PID=
IDLE_PID=
REPORT_DONE=0
RSS_ROWS=()
PG_VERSION=
PGBOUNCER_VERSION=
PGSHARD_VERSION=
WHY=
declare -A NA=()   # target -> reason it is not available
declare -A PID_OF=([direct]="" [pgbouncer]="" [gorelay]="" [pgshard]="" [pgshard-ps]="")
declare -A PORT_OF=([direct]=$PG_PORT [pgbouncer]=$PGBOUNCER_PORT [gorelay]=$GORELAY_PORT [pgshard]=$PGSHARD_PORT [pgshard-ps]=$PGSHARD_PS_PORT)

cleanup() {
	local rc=$?
	trap '' INT TERM HUP
	set +eu
	# EOF on its stdin stops idleconns; go run then reaps it and exits.
	exec 9>&-
	reap_wrapper "$IDLE_PID" 100
	stop_pid "$PGBENCH_PID" 5
	stop_pid "$PGSHARD_PID" 10
	stop_pid "$PGSHARD_PS_PID" 10
	stop_pid "$GORELAY_PID" 5
	stop_pid "$PGBOUNCER_PID" 10
	reap_wrapper "$PGBOUNCER_WRAPPER_PID"
	if [ "$PG_STARTED" = 1 ]; then
		[ -n "$POSTMASTER_PID" ] || POSTMASTER_PID=$(head -n1 "$TMP/pgdata/postmaster.pid" 2>/dev/null)
		if alive "$POSTMASTER_PID"; then
			as_pg "$PGBIN/pg_ctl" -D "$TMP/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1
		fi
		if alive "$POSTMASTER_PID"; then
			log "pg_ctl stop failed; signalling postmaster $POSTMASTER_PID"
			kill -QUIT "$POSTMASTER_PID" 2>/dev/null
			sleep 2
			alive "$POSTMASTER_PID" && kill -KILL "$POSTMASTER_PID" 2>/dev/null
		fi
		reap_wrapper "$PG_WRAPPER_PID"
	fi
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		if [ "$REPORT_DONE" = 0 ] && [ -s "$TMP/raw.tsv" ]; then
			log "interrupted; writing partial results"
			write_report "INTERRUPTED — partial results" >/dev/null 2>&1
			log "partial results: $REPORT"
		fi
		# Keep the logs: they are what explains a FAIL or a missing target.
		local logs=$OUT_DIR/logs-$STAMP f
		mkdir -p "$logs"
		for f in postgres.log initdb.log pgbench-init.log pgbouncer.log pgbouncer.out pgshard-build.log \
			pgshard.log pgshard.yaml pgshard-ps.log pgshard-ps.yaml gorelay-build.log gorelay.log idle-pgshard.out idle-pgbouncer.out raw.tsv; do
			[ -s "$TMP/$f" ] && cp "$TMP/$f" "$logs/"
		done
		[ -d "$TMP/runs" ] && cp -r "$TMP/runs" "$logs/"
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# -------------------------------------------------------- prerequisites ----
[ "$(id -u)" = 0 ] || die "run as root: PostgreSQL and PgBouncer are started as the postgres user via runuser"
command -v runuser >/dev/null || die "runuser not found (util-linux)"

pkgs=()
{ [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] && [ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pgbench" ]; } ||
	pkgs+=(postgresql-15)
{ [ -x "$PGBIN/psql" ] && [ -x "$PGBIN/pg_isready" ] && command -v psql >/dev/null; } || pkgs+=(postgresql-client-15)
PGBOUNCER_BIN=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
if has_target pgbouncer && [ ! -x "$PGBOUNCER_BIN" ]; then pkgs+=(pgbouncer); fi
if [ ${#pkgs[@]} -gt 0 ]; then
	apt_install "${pkgs[@]}" || die "could not install ${pkgs[*]}"
	PGBOUNCER_BIN=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
fi
id postgres >/dev/null 2>&1 || die "no postgres system user (the postgresql-15 package creates it)"

for p in "$PG_PORT" "$PGBOUNCER_PORT" "$PGSHARD_PORT" "$GORELAY_PORT"; do
	! port_in_use "$p" || die "127.0.0.1:$p is already in use (override with BENCH_PG_PORT / BENCH_PGBOUNCER_PORT / BENCH_PGSHARD_PORT / BENCH_GORELAY_PORT)"
done

# 1,000 idle clients plus pools need far more than the usual 1024 descriptors.
# Children (postgres, pgbouncer, pgshard, pgbench) inherit the raised limit.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then want=65536; else want=$hard; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$want" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 200)) ]; then
	log "warning: open-file limit is $(ulimit -n) (hard $hard); the idle-connection test may fail"
fi

TMP=$(mktemp -d /tmp/pgshard-bench.XXXXXX)
chown postgres:postgres "$TMP"
chmod 700 "$TMP"
mkdir -p "$TMP/runs" "$OUT_DIR"
: >"$TMP/raw.tsv"
log "workdir $TMP; targets: $TARGETS; modes: $MODES; clients: $CLIENTS; ${REPS}x${DURATION}s"

# ----------------------------------------------------------- PostgreSQL ----
log "initdb"
as_pg "$PGBIN/initdb" -D "$TMP/pgdata" -U postgres -E UTF8 --locale=C \
	--auth-local=peer --auth-host=scram-sha-256 >"$TMP/initdb.log" 2>&1 ||
	die "initdb failed: $(first_error "$TMP/initdb.log")"
cat >>"$TMP/pgdata/postgresql.conf" <<EOF

# bench/run.sh: loopback only, benchmark settings (durability off).
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$TMP'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'
huge_pages = off
max_wal_size = 4GB
log_line_prefix = '%m [%p] '
EOF

# bench may log in over the Unix socket too, with its password as over TCP
# (BENCH_SOCKET=unix); everyone else keeps peer authentication there.
sed -i '1i local bench bench scram-sha-256' "$TMP/pgdata/pg_hba.conf"

# Started as our (runuser's) child rather than daemonized by pg_ctl start, so
# that its exit is reaped here and not left to whatever PID 1 is; stopped
# with pg_ctl stop all the same.
log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
PG_STARTED=1
(cd "$TMP" && exec runuser -u postgres -- sh -c "$RAISE_NOFILE" "$(ulimit -n)" \
	"$PGBIN/postgres" -D "$TMP/pgdata") >"$TMP/postgres.log" 2>&1 &
PG_WRAPPER_PID=$!
for ((i = 0; i < 600; i++)); do
	alive "$PG_WRAPPER_PID" || die "PostgreSQL did not start: $(first_error "$TMP/postgres.log")"
	"$PGBIN/pg_isready" -q -h "$TMP" -p "$PG_PORT" -t 1 && break
	sleep 0.1
done
"$PGBIN/pg_isready" -q -h "$TMP" -p "$PG_PORT" -t 1 || die "PostgreSQL not ready after 60s: $(first_error "$TMP/postgres.log")"
POSTMASTER_PID=$(head -n1 "$TMP/pgdata/postmaster.pid")
PID_OF[direct]=$POSTMASTER_PID

pg_admin() { as_pg "$PGBIN/psql" -h "$TMP" -p "$PG_PORT" -U postgres -d postgres -X -q -At -v ON_ERROR_STOP=1 "$@"; }
sql_pw=${PASSWORD//\'/\'\'}
pg_admin >/dev/null <<EOF
SET password_encryption = 'scram-sha-256';
CREATE ROLE bench LOGIN PASSWORD '$sql_pw';
CREATE DATABASE bench OWNER bench;
EOF
VERIFIER=$(pg_admin -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")
[[ $VERIFIER == SCRAM-SHA-256\$* ]] || die "bench has no SCRAM verifier: '$VERIFIER'"
PG_VERSION=$(pg_admin -c 'SHOW server_version')

log "pgbench -i -s $SCALE"
"$PGBIN/pgbench" -i -s "$SCALE" -h 127.0.0.1 -p "$PG_PORT" -U bench bench >"$TMP/pgbench-init.log" 2>&1 &
PGBENCH_PID=$!
rc=0
wait "$PGBENCH_PID" || rc=$?
PGBENCH_PID=
[ "$rc" = 0 ] || die "pgbench -i failed: $(first_error "$TMP/pgbench-init.log")"

# Can a client authenticate as bench and run a query on this port?
smoke() { "$PGBIN/psql" -h 127.0.0.1 -p "$1" -U bench -d bench -X -q -At -c 'SELECT 1' 2>&1; }

# Waits up to $3 seconds for a started proxy to accept connections, then
# checks that bench can log in and run a query. On failure sets WHY.
wait_ready() {
	local pid=$1 port=$2 secs=$3 logf=$4 i out
	for ((i = 0; i < secs * 10; i++)); do
		if ! alive "$pid"; then
			WHY="exited: $(first_error "$logf")"
			return 1
		fi
		if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U bench -d bench -t 1; then
			if ! out=$(smoke "$port"); then
				WHY="SELECT 1 failed: $(oneline "$out")"
				return 1
			fi
			return 0
		fi
		sleep 0.1
	done
	WHY="not accepting connections on 127.0.0.1:$port after ${secs}s"
	return 1
}

# ------------------------------------------------------------- PgBouncer ----
start_pgbouncer() {
	printf '"bench" "%s"\n' "$VERIFIER" >"$TMP/userlist.txt"
	cat >"$TMP/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir = $([ "$SOCKET" = unix ] && echo "$TMP")
auth_type = scram-sha-256
auth_file = $TMP/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = 2000
server_tls_sslmode = disable
client_tls_sslmode = disable
ignore_startup_parameters = extra_float_digits
logfile = $TMP/pgbouncer.log
pidfile = $TMP/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
	chown postgres:postgres "$TMP/userlist.txt" "$TMP/pgbouncer.ini"
	chmod 600 "$TMP/userlist.txt"
	log "starting PgBouncer on 127.0.0.1:$PGBOUNCER_PORT"
	(cd "$TMP" && exec runuser -u postgres -- sh -c "$RAISE_NOFILE" "$(ulimit -n)" \
		"$PGBOUNCER_BIN" "$TMP/pgbouncer.ini") >"$TMP/pgbouncer.out" 2>&1 &
	PGBOUNCER_WRAPPER_PID=$!
	# runuser stays as the parent; the PID to measure and stop is PgBouncer's own.
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$TMP/pgbouncer.pid" ] && break
		alive "$PGBOUNCER_WRAPPER_PID" || break
		sleep 0.1
	done
	PGBOUNCER_PID=$(cat "$TMP/pgbouncer.pid" 2>/dev/null || true)
	if [ -z "$PGBOUNCER_PID" ]; then
		NA[pgbouncer]="no pidfile after 10s: $(first_error "$TMP/pgbouncer.out")"
	elif ! wait_ready "$PGBOUNCER_PID" "$PGBOUNCER_PORT" 10 "$TMP/pgbouncer.out"; then
		NA[pgbouncer]=$WHY
	else
		PID_OF[pgbouncer]=$PGBOUNCER_PID
		PGBOUNCER_VERSION=$("$PGBOUNCER_BIN" --version 2>/dev/null | head -n1)
		return 0
	fi
	log "pgbouncer: not available (${NA[pgbouncer]})"
	stop_pid "$PGBOUNCER_PID" 5
	reap_wrapper "$PGBOUNCER_WRAPPER_PID"
	PGBOUNCER_PID=''
	PGBOUNCER_WRAPPER_PID=
}

# --------------------------------------------------------------- pgshard ----
# Builds pgshard once (unless BENCH_PGSHARD_BIN names one); why it is not
# available, if so, goes to both of its targets.
build_pgshard() {
	local why=
	if [ -z "$PGSHARD_BIN" ]; then
		if ! command -v go >/dev/null; then
			why="go toolchain not found"
		else
			log "building pgshard"
			PGSHARD_BIN=$TMP/pgshard
			if ! go build -o "$PGSHARD_BIN" ./cmd/pgshard >"$TMP/pgshard-build.log" 2>&1; then
				why="build failed: $(first_error "$TMP/pgshard-build.log")"
			fi
		fi
	elif [ ! -x "$PGSHARD_BIN" ]; then
		why="BENCH_PGSHARD_BIN=$PGSHARD_BIN is not executable"
	fi
	if [ -n "$why" ]; then
		NA[pgshard]=$why
		NA[pgshard-ps]=$why
		log "pgshard: not available ($why)"
		return 1
	fi
	PGSHARD_VERSION=$("$PGSHARD_BIN" version 2>/dev/null | head -n1 || true)
}

# start_pgshard TARGET PORT [POOL-LINE]: pgshard as TARGET, with one more
# line in its pool section. Sets LAUNCHED_PID (empty when it failed).
start_pgshard() {
	local t=$1 port=$2 extra=${3:-} yaml_pw pid
	LAUNCHED_PID=
	yaml_pw=${PASSWORD//\'/\'\'}
	cat >"$TMP/$t.yaml" <<EOF
listen: 127.0.0.1:$port
$([ "$SOCKET" = unix ] && echo "unix_socket_dir: $TMP")
# No admin listener: the benchmark measures the data path only (and the
# default admin port may be the data port chosen here).
admin: {listen: "off"}
pool:
  mode: transaction
  size: $POOL_SIZE
$extra
users:
  - name: bench
    password: '$yaml_pw'
    auth: scram-sha-256
databases:
  - name: bench
    server_user: bench
    server_password: '$yaml_pw'
    shards:
      - name: s0
        primary: {host: 127.0.0.1, port: $PG_PORT, tls: disable}
    # The router does its full work on every statement (normalise, plan
    # cache, key hash, map lookup) even with one shard.
    sharding:
      tables:
        - {name: pgbench_accounts, key: aid}
EOF
	chmod 600 "$TMP/$t.yaml"
	log "starting $t on 127.0.0.1:$port"
	# shellcheck disable=SC2086 # BENCH_PGSHARD_ARGS is a word list on purpose
	"$PGSHARD_BIN" serve --config "$TMP/$t.yaml" $PGSHARD_ARGS >"$TMP/$t.log" 2>&1 &
	pid=$!
	if wait_ready "$pid" "$port" 10 "$TMP/$t.log"; then
		PID_OF[$t]=$pid
		LAUNCHED_PID=$pid
		return 0
	fi
	NA[$t]=$WHY
	log "$t: not available (${NA[$t]})"
	stop_pid "$pid" 5
}

# ---------------------------------------------------------------- gorelay ----
start_gorelay() {
	if ! command -v go >/dev/null; then
		NA[gorelay]="go toolchain not found"
	else
		log "building gorelay"
		if ! go build -o "$TMP/gorelay" ./bench/gorelay >"$TMP/gorelay-build.log" 2>&1; then
			NA[gorelay]="build failed: $(first_error "$TMP/gorelay-build.log")"
		fi
	fi
	if [ -z "${NA[gorelay]:-}" ]; then
		log "starting gorelay on 127.0.0.1:$GORELAY_PORT"
		# The same runtime setting pgshard gives itself (cmd/pgshard/sysmon.go),
		# so that the floor and pgshard run on equal terms.
		GODEBUG=schedtrace=2147483647 "$TMP/gorelay" -listen "127.0.0.1:$GORELAY_PORT" \
			-server "127.0.0.1:$PG_PORT" >"$TMP/gorelay.log" 2>&1 &
		GORELAY_PID=$!
		if wait_ready "$GORELAY_PID" "$GORELAY_PORT" 10 "$TMP/gorelay.log"; then
			PID_OF[gorelay]=$GORELAY_PID
			return 0
		fi
		NA[gorelay]=$WHY
	fi
	log "gorelay: not available (${NA[gorelay]})"
	stop_pid "$GORELAY_PID" 5
	GORELAY_PID=
}

CLIENT_HOST=127.0.0.1
if [ "$SOCKET" = unix ]; then
	CLIENT_HOST=$TMP
	has_target gorelay && NA[gorelay]="no Unix socket (BENCH_SOCKET=unix)"
fi
if has_target pgbouncer; then start_pgbouncer; fi
if has_target gorelay && [ -z "${NA[gorelay]:-}" ]; then start_gorelay; fi
if { has_target pgshard || has_target pgshard-ps; } && build_pgshard; then
	if has_target pgshard; then
		start_pgshard pgshard "$PGSHARD_PORT"
		PGSHARD_PID=$LAUNCHED_PID
	fi
	if has_target pgshard-ps; then
		# The same pgshard with simple queries run as server-side prepared
		# statements (pool.prepare_simple); it changes simple mode only.
		start_pgshard pgshard-ps "$PGSHARD_PS_PORT" "  prepare_simple: true"
		PGSHARD_PS_PID=$LAUNCHED_PID
	fi
fi
if has_target pgshard-ps && [[ " $MODES " != *" simple "* ]]; then
	log "pgshard-ps: runs in simple mode only, which BENCH_MODES leaves out"
fi

# ------------------------------------------------------------ pgbench runs ----
# raw.tsv: rep mode clients target status tps latency_ms failed txns cpu_us_per_tx note
record() { (IFS=$'\t' && echo "$*") >>"$TMP/raw.tsv"; }

bench_one() {
	local rep=$1 mode=$2 c=$3 t=$4
	local port=${PORT_OF[$t]} pid=${PID_OF[$t]} j out rc=0 cpu0='' cpu1='' tps lat failed txns cpu=- note=
	j=$((c < 2 ? c : 2))
	out=$TMP/runs/r$rep-$mode-c$c-$t.log
	if [ "$t" != direct ]; then cpu0=$(cpu_ticks "$pid" || true); fi
	"$PGBIN/pgbench" -n -S -M "$mode" -c "$c" -j "$j" -T "$DURATION" \
		-h "$CLIENT_HOST" -p "$port" -U bench bench >"$out" 2>&1 &
	PGBENCH_PID=$!
	wait "$PGBENCH_PID" || rc=$?
	PGBENCH_PID=
	if [ "$t" != direct ]; then cpu1=$(cpu_ticks "$pid" || true); fi

	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	if [ -n "$cpu0" ] && [ -n "$cpu1" ] && [ -n "$txns" ] && [ "$txns" -gt 0 ]; then
		cpu=$(awk -v d=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$txns" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
	fi
	if [ "$t" != direct ] && ! alive "$pid"; then
		NA[$t]="exited during the rep $rep $mode c=$c run"
		note="proxy exited during the run"
	fi
	if [ "$rc" != 0 ] || [ -z "$tps" ]; then
		note="pgbench exit $rc: $(first_error "$out")${note:+; $note}"
		record "$rep" "$mode" "$c" "$t" FAIL "${tps:--}" "${lat:--}" "${failed:--}" "${txns:--}" "$cpu" "$note"
		log "rep $rep/$REPS $mode c=$c $t: FAIL ($note)"
	else
		record "$rep" "$mode" "$c" "$t" ok "$tps" "${lat:--}" "${failed:-0}" "${txns:--}" "$cpu" "${note:--}"
		log "rep $rep/$REPS $mode c=$c $t: $tps tps, ${lat:-?} ms, ${failed:-0} failed, proxy CPU $cpu µs/tx"
	fi
}

CLK_TCK=$(getconf CLK_TCK)
nmodes=$(wc -w <<<"$MODES")
nclients=$(wc -w <<<"$CLIENTS")
ntargets=$(wc -w <<<"$TARGETS")
log "running $((REPS * nmodes * nclients * ntargets)) pgbench runs of ${DURATION}s each"
for ((rep = 1; rep <= REPS; rep++)); do
	for mode in $MODES; do
		for c in $CLIENTS; do
			# Targets alternate within a repetition so drift hits all of them.
			for t in $TARGETS; do
				alive "$POSTMASTER_PID" || die "PostgreSQL exited: $(first_error "$TMP/postgres.log")"
				[ -z "${NA[$t]:-}" ] || continue
				# pool.prepare_simple changes simple queries only.
				[ "$t" != pgshard-ps ] || [ "$mode" = simple ] || continue
				bench_one "$rep" "$mode" "$c" "$t"
			done
		done
	done
done

# ------------------------------------------- RSS with idle client connections ----
idle_test() {
	local t=$1 pid=${PID_OF[$1]} port=${PORT_OF[$1]} before after hwm i line st
	local fifo=$TMP/idle-$t.in outf=$TMP/idle-$t.out
	before=$(rss_kib "$pid")
	mkfifo "$fifo"
	# fd 9 is the only writer: closing it (or our dying) gives the program EOF.
	exec 9<>"$fifo"
	go run ./bench/idleconns -n "$IDLE_CONNS" -concurrency 50 \
		-dsn "host=127.0.0.1 port=$port user=bench dbname=bench sslmode=disable" \
		<"$fifo" >"$outf" 2>&1 9>&- &
	IDLE_PID=$!
	line=
	for ((i = 0; i < 1800; i++)); do # compile + connect: up to 3 minutes
		line=$(grep -m1 '^connected ' "$outf" 2>/dev/null) && break
		alive "$IDLE_PID" || break
		sleep 0.1
	done
	if [ -n "$line" ]; then
		sleep 2 # let the proxy settle
		after=$(rss_kib "$pid")
		hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
		RSS_ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$t" "${line#connected }" "$before" "$after" "$hwm" ok)")
		log "$t: RSS ${before} KiB idle, ${after} KiB with ${line#connected } idle clients"
	else
		st=$(first_error "$outf")
		RSS_ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$t" 0 "$before" - - "idleconns failed: $st")")
		log "$t: idle-connection test failed: $st"
	fi
	exec 9>&-
	reap_wrapper "$IDLE_PID" 150
	IDLE_PID=
}

if [ "$IDLE_CONNS" -gt 0 ]; then
	for t in pgshard pgbouncer; do
		has_target "$t" || continue
		if [ -n "${NA[$t]:-}" ]; then
			RSS_ROWS+=("$(printf '%s\t0\t-\t-\t-\t%s' "$t" "$t: not available (${NA[$t]})")")
		elif ! command -v go >/dev/null; then
			RSS_ROWS+=("$(printf '%s\t0\t-\t-\t-\t%s' "$t" "go toolchain not found")")
		else
			log "$t: opening $IDLE_CONNS idle client connections"
			idle_test "$t"
		fi
	done
fi

# ---------------------------------------------------------------- report ----
write_report
echo
echo "## Select-only throughput (${REPS}x${DURATION}s, median)"
echo
summary_table
for t in $TARGETS; do
	[ -z "${NA[$t]:-}" ] || echo "$t: not available (${NA[$t]})"
done
if [ ${#RSS_ROWS[@]} -gt 0 ]; then
	echo
	echo "## Memory with $IDLE_CONNS idle clients"
	echo
	rss_table
fi
echo
log "results: ${REPORT#"$REPO"/} (raw runs included); logs: ${OUT_DIR#"$REPO"/}/logs-$STAMP/"
