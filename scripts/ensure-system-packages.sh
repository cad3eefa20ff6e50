#!/usr/bin/env bash
# Install the Debian packages that `make demo` and `make test` need, but only those missing.
#
# Why: the tests start their own real PostgreSQL (initdb/pg_ctl from
# /usr/lib/postgresql/*/bin, run as the `postgres` user when root), Redis (and redis-cli),
# nginx (several provider nodes behind it), OpenLDAP (slapd, ldapsearch),
# node + npm (the AD FS stand-in, tests/adfs_double; axe-core, tests/browser/axe),
# Chromium (headless E2E)
# and CJK fonts (screenshots with Japanese text), each on free ports; and
# `make install` needs a Python 3 that can create a virtual environment
# (Debian ships venv/ensurepip apart, in python3-venv).  CI and a developer may
# start from a bare Debian machine, so the Makefile runs this script first.
# It is idempotent: when everything is present it neither touches the network
# nor needs root.
#
# Usage: scripts/ensure-system-packages.sh [--check] [--python]
#   --check   only report what is missing; exit 1 if anything is missing.
#   --python  only what `make install` / `make demo` need (python3-venv).
# $PYTHON (default python3) is the interpreter the Makefile builds .venv with.
#
# Services installed here are NOT started: a temporary policy-rc.d blocks
# the post-install start, because the tests start their own instances on
# free ports and a system-wide daemon on 5432/6379/80/389 would only get in
# the way.  (The postgresql package still creates its default cluster; it is
# not started now, and the tests never use it.)
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# apt waits this long for a dpkg lock held by another apt run (seconds).
readonly APT_LOCK_TIMEOUT="${APT_LOCK_TIMEOUT:-600}"
readonly POLICY_RC=/usr/sbin/policy-rc.d

check_only=0
python_only=0
for arg in "$@"; do
    case "$arg" in
        --check) check_only=1 ;;
        --python) python_only=1 ;;
        *)
            echo "usage: $0 [--check] [--python]" >&2
            exit 2
            ;;
    esac
done
readonly PYTHON="${PYTHON:-python3}"

# dpkg_installed PACKAGE: true when PACKAGE is fully installed.
dpkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# Each have_* asks for what the code that uses it runs, not for a package name.

# Makefile: `$(PYTHON) -m venv .venv` (Debian: python3-venv brings ensurepip).
have_python_venv() {
    command -v "$PYTHON" >/dev/null 2>&1 && "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null
}

# tests/realservices.py: redis-server on $PATH, /usr/bin or /usr/sbin (also the sentinels of
# tests/redis_ha.py).
have_redis() {
    command -v redis-server >/dev/null 2>&1 || [[ -x /usr/sbin/redis-server ]]
}

# tests/redis_ha.py: `redis-cli --cluster create` (redis-tools; redis-server depends on it).
have_redis_cli() {
    command -v redis-cli >/dev/null 2>&1
}

# tests/realservices.py: initdb, pg_ctl and postgres in /usr/lib/postgresql/<version>/bin,
# run through runuser as the `postgres` system user when the tests run as root.
have_postgresql() {
    local bindir
    getent passwd postgres >/dev/null || return 1
    for bindir in /usr/lib/postgresql/*/bin; do
        if [[ -x $bindir/initdb && -x $bindir/pg_ctl && -x $bindir/postgres ]]; then
            return 0
        fi
    done
    return 1
}

# The multi-node tests: nginx on $PATH or /usr/sbin.
have_nginx() {
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]
}

# tests/test_brokers_adfs_daccount.py: `npm ci` once, then `node server.js`.
have_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

# tests/conftest.py: Playwright drives /usr/bin/chromium (no browser download).
have_chromium() {
    [[ -x /usr/bin/chromium ]]
}

have_cjk_fonts() {
    if dpkg_installed fonts-noto-cjk; then
        return 0
    fi
    command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi 'Noto Sans CJK'
}

# tests/slapd.py: /usr/sbin/slapd and /usr/sbin/slapadd; ldapsearch (ldap-utils) on $PATH.
have_slapd() {
    [[ -x /usr/sbin/slapd && -x /usr/sbin/slapadd ]] && command -v ldapsearch >/dev/null 2>&1
}

# missing_packages: print the Debian packages of whatever is missing, one a line.
missing_packages() {
    have_python_venv || echo python3-venv
    [[ $python_only -eq 1 ]] && return 0
    have_postgresql || echo postgresql
    have_redis || echo redis-server
    have_redis_cli || echo redis-tools
    have_nginx || echo nginx
    have_node || printf '%s\n' nodejs npm
    have_chromium || echo chromium
    have_cjk_fonts || echo fonts-noto-cjk
    have_slapd || printf '%s\n' slapd ldap-utils
}

# tests/adfs_double/package.json declares node >= 20; Debian 12 ships 18 (Debian 13: 20), on
# which npm warns (EBADENGINE) and the stand-in is untested.  A warning, not a failure.
warn_old_node() {
    [[ $python_only -eq 1 ]] && return 0
    if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
        echo "ensure-system-packages: warning: node $(node --version) is older than 20," \
            "which tests/adfs_double asks for" >&2
    fi
}

mapfile -t missing < <(missing_packages)

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "ensure-system-packages: all required packages are present."
    warn_old_node
    exit 0
fi

if [[ $check_only -eq 1 ]]; then
    echo "ensure-system-packages: missing: ${missing[*]}" >&2
    exit 1
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo --preserve-env=DEBIAN_FRONTEND)
    else
        echo "ensure-system-packages: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

# Keep apt from starting the freshly installed daemons (see header).  Only
# add our own policy file when none exists, and remove only that one.
created_policy=0
cleanup() {
    if [[ $created_policy -eq 1 ]]; then
        "${sudo_cmd[@]}" rm -f "$POLICY_RC"
    fi
}
trap cleanup EXIT

if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$POLICY_RC" >/dev/null
    "${sudo_cmd[@]}" chmod 0755 "$POLICY_RC"
    created_policy=1
fi

apt_opts=(-o "DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT}")

echo "ensure-system-packages: installing: ${missing[*]}"
"${sudo_cmd[@]}" apt-get "${apt_opts[@]}" update
"${sudo_cmd[@]}" apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"

# Verify: a package name that installs but provides nothing useful must not
# pass silently.
mapfile -t failed < <(missing_packages)
if [[ ${#failed[@]} -ne 0 ]]; then
    echo "ensure-system-packages: still missing after install: ${failed[*]}" >&2
    exit 1
fi
warn_old_node
echo "ensure-system-packages: done."
