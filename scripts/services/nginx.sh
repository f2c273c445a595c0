# nginx for the several-nodes tests (tests/it/cluster.rs), sourced by
# scripts/test after lib.sh. Each test starts its own nginx (`daemon off`,
# its config, pid, logs and temp files in a temporary directory, a free
# port, killed when the test ends) with the shipped routing file
# deploy/nginx/identity-os.conf; this only installs nginx and says where it
# is. The compose file check parses deploy/compose.yaml with python3's
# yaml module, installed here if missing.
# shellcheck shell=bash
if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    apt_install nginx
fi
IDENTITY_OS_TEST_NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
export IDENTITY_OS_TEST_NGINX
python3 -c 'import yaml' >/dev/null 2>&1 || apt_install python3-yaml
