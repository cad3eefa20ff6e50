#!/usr/bin/env bash
# Install the Debian packages the test suite needs, but only those missing.
#
# Why: the tests start their own real Redis, Chromium (headless E2E), CJK
# fonts (screenshots/PDFs with Japanese text) and OpenLDAP (slapd) on free
# ports.  CI runs on a fresh Debian machine, so the Makefile runs this script
# before the tests.  It is idempotent: when everything is present it neither
# touches the network nor needs root.
#
# Usage: scripts/ensure-system-packages.sh [--check]
#   --check   only report what is missing; exit 1 if anything is missing.
#
# Services installed here are NOT started: a temporary policy-rc.d blocks
# the post-install start, because the tests start their own instances on
# free ports and a system-wide daemon on 6379/389 would only get in the way.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# apt waits this long for a dpkg lock held by another apt run (seconds).
readonly APT_LOCK_TIMEOUT="${APT_LOCK_TIMEOUT:-600}"
readonly POLICY_RC=/usr/sbin/policy-rc.d

check_only=0
case "${1:-}" in
    "") ;;
    --check) check_only=1 ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac

# dpkg_installed PACKAGE: true when PACKAGE is fully installed.
dpkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

have_redis() {
    command -v redis-server >/dev/null 2>&1
}

have_chromium() {
    [[ -x /usr/bin/chromium ]]
}

have_cjk_fonts() {
    if dpkg_installed fonts-noto-cjk; then
        return 0
    fi
    command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi 'Noto Sans CJK'
}

have_slapd() {
    dpkg_installed slapd && dpkg_installed ldap-utils
}

missing=()
have_redis || missing+=(redis-server)
have_chromium || missing+=(chromium)
have_cjk_fonts || missing+=(fonts-noto-cjk)
have_slapd || missing+=(slapd ldap-utils)

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "ensure-system-packages: all required packages are present."
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
failed=()
have_redis || failed+=(redis-server)
have_chromium || failed+=(chromium)
have_cjk_fonts || failed+=(fonts-noto-cjk)
have_slapd || failed+=(slapd ldap-utils)
if [[ ${#failed[@]} -ne 0 ]]; then
    echo "ensure-system-packages: still missing after install: ${failed[*]}" >&2
    exit 1
fi
echo "ensure-system-packages: done."
