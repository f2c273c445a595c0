# Helpers for the throwaway services the test command starts (sourced by
# scripts/test and by each scripts/services/<name>.sh).
#
# Each service script, when sourced, installs its package if missing
# (apt-get, as root), starts the service on a random loopback port in a
# temporary directory, registers its stop-and-remove with `on_exit`, and
# exports the variable the tests read (IDENTITY_OS_TEST_<NAME>_...). The
# EXIT trap runs every registered command, also when a step fails.

services_cleanup=()

# Runs "$@" (one shell command string) when the test command exits.
on_exit() {
    services_cleanup+=("$1")
}

services_stop_all() {
    local i
    for ((i = ${#services_cleanup[@]} - 1; i >= 0; i--)); do
        eval "${services_cleanup[$i]}" >/dev/null 2>&1 || true
    done
}

# A TCP port that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Installs Debian packages that are missing (needs root and the registry).
apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "scripts/test: installing ${missing[*]}" >&2
    if [[ ! -d /var/lib/apt/lists/partial ]] || [[ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v partial)" ]]; then
        apt-get update -qq >/dev/null
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

# Waits until "$@" succeeds, up to $1 seconds.
wait_until() {
    local seconds="$1"
    shift
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.2
    done
}
