# shellcheck shell=bash
# Shell functions shared by scripts/test and scripts/bench: throwaway PostgreSQL and Redis
# servers on loopback ports, in a temporary directory, stopped and deleted again on exit.
#
# Source it after `set -euo pipefail` and after setting:
#   script_name        prefix of messages (e.g. scripts/test)
#   timeout_secs       seconds to wait for a server to come up
#   work_prefix        name prefix of the temporary directory (e.g. permanence-test)
#   pg_first_port      first port to try for PostgreSQL
#   redis_first_port   first port to try for Redis
#   pg_missing_hint    what to do instead when PostgreSQL is not installed (one sentence end)
# It sets: work (the temporary directory), pg_url once start_postgres is done and
# redis_url once start_redis is done. stop_services stops both and deletes the directory;
# call it from the script's EXIT trap.

# shellcheck disable=SC2317 # the stop functions are reached through the EXIT trap
# shellcheck disable=SC2154 # the settings above come from the sourcing script
# shellcheck disable=SC2034 # pg_url and redis_url are for the sourcing script

say() { printf '%s: %s\n' "$script_name" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

work=""          # temporary directory holding everything this script starts
pg_bin=""        # directory of the PostgreSQL server binaries
pg_data=""       # data directory of our cluster, once initdb has run
pg_port=""
pg_log=""
pg_url=""
redis_pidfile="" # set once we have launched redis-server
redis_url=""

is_root() { [ "$(id -u)" -eq 0 ]; }

# PostgreSQL refuses to run as root; as root, run its binaries as the `postgres` user.
as_postgres() {
    if is_root; then
        (cd "$work" && runuser -u postgres -- "$@")
    else
        (cd "$work" && "$@")
    fi
}

# Whether something already accepts connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Whether a Redis answers PING on 127.0.0.1:$1 (no redis-cli needed).
redis_ping() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        [[ $reply == +PONG* ]]
    ) 2>/dev/null
}

redis_pid() { [ -n "$redis_pidfile" ] && [ -s "$redis_pidfile" ] && tr -dc '0-9' <"$redis_pidfile"; }

# Stops the Redis we started, by the pid it wrote, and waits for it to go.
stop_redis() {
    local pid comm
    pid=$(redis_pid) || return 0
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    # Make sure the pid still belongs to a redis-server before signalling it.
    if [ -r "/proc/$pid/comm" ]; then
        comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
        [[ $comm == redis-server* ]] || return 0
    fi
    say "stopping Redis (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "warning: Redis (pid $pid) did not stop in 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# Stops the PostgreSQL cluster we started; returns non-zero if it is still running.
stop_postgres() {
    [ -n "$pg_data" ] && [ -f "$pg_data/PG_VERSION" ] || return 0
    # pg_ctl status: 0 running, 3 not running.
    as_postgres "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1 || return 0
    say "stopping PostgreSQL (port $pg_port)"
    as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -m fast -t 30 -w stop >/dev/null 2>&1 && return 0
    say "warning: fast shutdown failed; trying immediate shutdown"
    as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -t 30 -w stop >/dev/null 2>&1
}

# Stops whatever start_redis and start_postgres started and deletes the temporary
# directory (kept, with a warning, if PostgreSQL would not stop). Never fails.
stop_services() {
    local keep=0
    stop_redis
    if ! stop_postgres; then
        say "warning: could not stop PostgreSQL; leaving $work in place (stop it with:" \
            "pg_ctl -D $pg_data stop)"
        keep=1
    fi
    if [ -n "$work" ] && [ "$keep" -eq 0 ]; then
        rm -rf -- "$work"
    fi
}

make_workdir() {
    [ -n "$work" ] && return 0
    if is_root; then
        # /tmp, not $TMPDIR: the postgres user must be able to reach the directory.
        work=$(mktemp -d "/tmp/$work_prefix.XXXXXX")
    else
        work=$(mktemp -d "${TMPDIR:-/tmp}/$work_prefix.XXXXXX")
    fi
}

# Starts `$3 …` in the background with its output in the file $1, and waits until it has
# logged its port as `"port":N` and answers there: HTTP 200 on the path $2, or, with $2
# empty, any connection. Sets started_pid and started_port.
started_pid=""
started_port=""
start_listening() {
    local log=$1 path=$2
    shift 2
    "$@" >"$log" 2>&1 &
    started_pid=$!
    started_port=""
    local deadline=$((SECONDS + timeout_secs))
    until [ -n "$started_port" ] && http_ready "$started_port" "$path"; do
        if ! kill -0 "$started_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$log" >&2
            die "the process logging to $log did not become ready (log above)"
        fi
        sleep 0.2
        started_port=$(grep -o '"port":[0-9]*' "$log" | head -n 1 | cut -d: -f2 || true)
    done
}

# Whether 127.0.0.1:$1 answers HTTP 200 on the path $2 (any connection when $2 is empty).
http_ready() {
    [ -n "$2" ] || {
        port_busy "$1"
        return
    }
    (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 &&
        head -n 1 <&3 | grep -q ' 200 ') 2>/dev/null
}

# Stops the process $1 (named $2 in messages) with SIGTERM and waits for it to go.
stop_process() {
    [ -n "$1" ] || return 0
    if kill -0 "$1" 2>/dev/null; then
        say "stopping $2 (pid $1)"
        kill -TERM "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}

# Whether PostgreSQL's server binaries are installed (as find_pg_bin looks for them).
pg_installed() {
    local dir
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/initdb" ] && [ -x "$PG_BINDIR/pg_ctl" ]
        return
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            return 0
        fi
    done
    return 1
}

# Installs the Debian packages named (as root, with apt-get), or stops at once with the one
# line to run when that cannot be done here.
install_packages() {
    [ "$#" -gt 0 ] || return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing $* (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -q ||
            die "apt-get update failed; run: apt-get install -y $*"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null ||
            die "apt-get install failed; run: apt-get install -y $*"
    else
        die "the tests need $*; run: sudo apt-get install -y $*"
    fi
}

find_pg_bin() {
    local dir
    if [ -n "${PG_BINDIR:-}" ]; then
        if [ ! -x "$PG_BINDIR/initdb" ] || [ ! -x "$PG_BINDIR/pg_ctl" ]; then
            die "PG_BINDIR=$PG_BINDIR has no initdb/pg_ctl"
        fi
        pg_bin=$PG_BINDIR
        return 0
    fi
    # The newest Debian-packaged server first.
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            pg_bin=$dir
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1; then
        dir=$(dirname "$(command -v initdb)")
        if [ -x "$dir/pg_ctl" ]; then
            pg_bin=$dir
            return 0
        fi
    fi
    die "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin" \
        "or on PATH. Install the Debian package 'postgresql' (apt-get install postgresql)," \
        "$pg_missing_hint"
}

# Whether our PostgreSQL accepts connections over TCP.
pg_ready() {
    if [ -x "$pg_bin/pg_isready" ]; then
        "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres
    elif command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres
    else
        port_busy "$pg_port"
    fi
}

# Starts a throwaway PostgreSQL cluster (trust auth, no durability) on the first free port
# from $pg_first_port; sets pg_url to its `postgres` database as user `postgres`.
start_postgres() {
    find_pg_bin
    if is_root; then
        id -u postgres >/dev/null 2>&1 ||
            die "running as root, but there is no 'postgres' user to run PostgreSQL as" \
                "(PostgreSQL refuses to run as root; the Debian package 'postgresql' creates the user)"
        command -v runuser >/dev/null 2>&1 || die "running as root needs 'runuser' (util-linux)"
    fi
    make_workdir
    if is_root; then
        chown postgres: "$work"
    fi
    pg_data="$work/pgdata"

    local version
    version=$("$pg_bin/pg_ctl" --version 2>/dev/null | awk '{print $3}')
    say "initialising a throwaway PostgreSQL ${version:-} cluster in $pg_data"
    if ! as_postgres "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1; then
        cat "$work/initdb.log" >&2
        die "initdb failed (output above)"
    fi
    # Loopback only, our own socket directory, and no durability: the data is thrown away.
    cat >>"$pg_data/postgresql.conf" <<CONF

# $script_name: a throwaway cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF

    local port=$pg_first_port tries=0
    while :; do
        tries=$((tries + 1))
        [ "$tries" -le 20 ] || die "no free port for PostgreSQL from $pg_first_port"
        if port_busy "$port"; then
            port=$((port + 1))
            continue
        fi
        pg_port=$port
        pg_log="$work/postgres-$port.log"
        if as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" -o "-p $port" \
            -w -t "$timeout_secs" start >/dev/null 2>&1; then
            break
        fi
        if grep -qiE 'could not bind|address already in use' "$pg_log" 2>/dev/null &&
            ! as_postgres "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
            say "port $port was taken meanwhile; trying the next one"
            port=$((port + 1))
            continue
        fi
        tail -n 30 "$pg_log" >&2 2>/dev/null || true
        die "PostgreSQL did not start within ${timeout_secs}s (log above)"
    done

    # pg_ctl -w has waited already; confirm over TCP, as clients will connect.
    local deadline=$((SECONDS + timeout_secs))
    until pg_ready; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$pg_log" >&2 2>/dev/null || true
            die "PostgreSQL on 127.0.0.1:$pg_port is not accepting connections after ${timeout_secs}s"
        fi
        sleep 0.2
    done

    pg_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
}

# Starts a throwaway Redis (no persistence) on the first free port from
# $redis_first_port; sets redis_url. Needs redis-server on PATH.
start_redis() {
    make_workdir

    local port=$redis_first_port tries=0 log="$work/redis.log"
    while :; do
        tries=$((tries + 1))
        [ "$tries" -le 20 ] || die "no free port for Redis from $redis_first_port"
        if port_busy "$port"; then
            port=$((port + 1))
            continue
        fi
        : >"$log"
        redis_pidfile="$work/redis-$port.pid"
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize yes --pidfile "$redis_pidfile" --logfile "$log" --dir "$work" \
            >"$work/redis-start.log" 2>&1 || {
            cat "$work/redis-start.log" "$log" >&2 2>/dev/null
            die "redis-server failed to start (output above)"
        }
        local deadline=$((SECONDS + timeout_secs)) pid
        while :; do
            pid=$(redis_pid || true)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && redis_ping "$port"; then
                redis_url="redis://127.0.0.1:$port"
                return 0
            fi
            if grep -qi 'address already in use' "$log" 2>/dev/null; then
                break # taken meanwhile: try the next port
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                tail -n 30 "$log" >&2 2>/dev/null || true
                die "Redis on 127.0.0.1:$port did not answer PING within ${timeout_secs}s (log above)"
            fi
            sleep 0.1
        done
        say "port $port was taken meanwhile; trying the next one"
        port=$((port + 1))
    done
}
