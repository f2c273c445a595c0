# A throwaway Redis for the tests (sourced by scripts/test after lib.sh):
# redis-server on a random loopback port in a temporary directory, with no
# persistence, stopped and deleted on exit. Exports
# IDENTITY_OS_TEST_REDIS_URL (the shared server; tests give each of their
# servers fresh accounts, so its keys never collide) and
# IDENTITY_OS_TEST_REDIS_SERVER, the binary, for tests that need a Redis
# of their own to kill and restart on the same port.

start_redis() {
    local bin
    bin="$(command -v redis-server || true)"
    if [[ -z "$bin" ]]; then
        apt_install redis-server
        bin="$(command -v redis-server)"
    fi
    local dir port
    dir="$(mktemp -d /tmp/identity-os-redis.XXXXXX)"
    port="$(free_port)"
    on_exit "rm -rf '$dir'"
    "$bin" --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" ||
        { cat "$dir/redis.log" >&2 2>/dev/null; return 1; }
    on_exit "kill \$(cat '$dir/redis.pid')"
    redis_ping() {
        # PING over a raw socket: redis-cli may not be installed.
        python3 - "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"PING\r\n")
sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
PY
    }
    wait_until 10 redis_ping "$port" || { cat "$dir/redis.log" >&2; return 1; }
    export IDENTITY_OS_TEST_REDIS_URL="redis://127.0.0.1:$port"
    export IDENTITY_OS_TEST_REDIS_SERVER="$bin"
    echo "scripts/test: Redis $("$bin" --version | grep -o 'v=[0-9.]*' | cut -d= -f2) on 127.0.0.1:$port" >&2
}

start_redis
