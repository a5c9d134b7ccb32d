#!/usr/bin/env bash
# Install the system packages the tests and `make run` need, if missing:
# MariaDB server and client (mariadbd, mariadb-install-db, mariadb-admin)
# and the PAM modules used by the local IAM account (pam_exec.so), and
# Chromium for the fleet page's browser test.
#
# Idempotent: does nothing when everything is present. Runs `apt-get
# update` at most once. The tests start their own private MariaDB on a
# free port; this script never starts, stops or configures a system
# MariaDB. If the package's own service cannot start (containers without
# an init system), that is fine and ignored. If the install started a
# system server on 3306, it is left alone: nothing here uses it.
set -euo pipefail

# mariadbd lives in /usr/sbin, which is not on a normal user's PATH on Debian.
have() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /usr/local/sbin/$1 ]]; }

declare -A want=()
have mariadbd || want[mariadb-server]=1
have mariadb-install-db || want[mariadb-server]=1
have mariadb || want[mariadb-client]=1
[[ -e /usr/lib/mysql/plugin/auth_pam.so && -e /usr/lib/mysql/plugin/auth_ed25519.so ]] || want[mariadb-server]=1
pam_exec_found=false
for d in /lib/x86_64-linux-gnu/security /lib/aarch64-linux-gnu/security /usr/lib/x86_64-linux-gnu/security \
         /usr/lib/aarch64-linux-gnu/security /lib/security /usr/lib/security /usr/lib64/security; do
  if [[ -e "$d/pam_exec.so" ]]; then pam_exec_found=true; break; fi
done
$pam_exec_found || want[libpam-modules]=1
# systemd-analyze verifies deploy/systemd/connbrokerd.service (deploy tests).
have systemd-analyze || want[systemd]=1
# The compatibility matrix (internal/matrix): mysqlclient builds against
# MariaDB Connector/C; mysql2 runs on Node; Connector/J on a JDK via Maven.
pkg-config --exists libmariadb 2>/dev/null || want[libmariadb-dev]=1
have pkg-config || want[pkg-config]=1
have gcc || want[build-essential]=1
have node || want[nodejs]=1
have npm || want[npm]=1
have java || want[default-jdk-headless]=1
have mvn || want[maven]=1
# The fleet page test (server/ui, cmd/connbrokerd) drives Debian's headless
# Chromium through the DevTools protocol (chromedp).
have chromium || want[chromium]=1
# The docs/PROGRAMS.md recipes run the real programs (cmd/connbroker
# programs_test.go): Debian's mysqld_exporter and mydumper, small packages.
have prometheus-mysqld-exporter || want[prometheus-mysqld-exporter]=1
have mydumper || want[mydumper]=1

if [[ ${#want[@]} -eq 0 ]]; then
  exit 0
fi
need=("${!want[@]}")

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing: ${need[*]}" >&2
  echo "install-deps: no apt-get on this machine; install MariaDB 10.6+ server and client" >&2
  echo "  (mariadbd, mariadb-install-db, mariadb-admin, mariadb; plugins auth_pam.so and auth_ed25519.so)" >&2
  echo "  and the PAM module pam_exec.so with your package manager, then re-run." >&2
  exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps: missing: ${need[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
# policy-rc.d exit 101 stops the package from starting its service (no
# init system in containers, and we never want a system server anyway).
policy=/usr/sbin/policy-rc.d
added_policy=false
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  added_policy=true
fi
cleanup() { if $added_policy; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"; then
  # A failed postinst (service start) leaves the files installed; finish
  # configuring and check below what matters: the binaries.
  "${sudo[@]}" dpkg --configure -a || true
fi

missing=()
for bin in mariadbd mariadb-install-db mariadb-admin mariadb node npm java mvn pkg-config gcc chromium prometheus-mysqld-exporter mydumper; do
  have "$bin" || missing+=("$bin")
done
if [[ ${#missing[@]} -ne 0 ]]; then
  echo "install-deps: still missing after apt-get install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: ok"
