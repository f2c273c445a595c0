# A throwaway PostgreSQL cluster for the tests (sourced by scripts/test
# after lib.sh): initdb into a temporary directory as the unprivileged
# `postgres` user (PostgreSQL refuses to run as root), started on a random
# loopback port, stopped and deleted on exit. Exports
# IDENTITY_OS_TEST_POSTGRES_URL, an administrator URL; the tests create a
# database of their own in it for every server they start.

start_postgres() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
        apt_install postgresql
        bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    fi
    local run_as=()
    if [[ "$(id -u)" -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        run_as=(runuser -u postgres --)
    fi
    local dir port
    dir="$(mktemp -d /tmp/identity-os-pg.XXXXXX)"
    port="$(free_port)"
    [[ "$(id -u)" -eq 0 ]] && chown postgres "$dir"
    on_exit "rm -rf '$dir'"
    "${run_as[@]}" "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
        --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    # Tuned for a test machine: durable commits stay on (the tests rely on
    # them), the rest of the defaults are generous enough for parallel tests.
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 256MB
fsync = on
synchronous_commit = on
CONF
    on_exit "${run_as[*]} '$bin/pg_ctl' --pgdata='$dir/data' --mode=immediate stop"
    "${run_as[@]}" "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait start >/dev/null ||
        { cat "$dir/server.log" >&2; return 1; }
    export IDENTITY_OS_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
    export IDENTITY_OS_TEST_POSTGRES_BIN="$bin"
    export IDENTITY_OS_TEST_POSTGRES_DIR="$dir"
    echo "scripts/test: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

start_postgres
