#!/usr/bin/env bash
# without-servers.sh CMD [ARG...]: run CMD as on a machine with no database
# server, browser, AWS emulator, JVM or Node: in a private mount namespace
# (unshare -m, root only) every such program below is covered by /dev/null,
# so exec.LookPath, os.Stat checks and exec all fail as they would were the
# program not installed. Nothing outside CMD's process tree sees a change.
#
#   sudo scripts/without-servers.sh make test-short
#
# It proves the fast tier (`go test -short`) needs none of them; the
# integration tests still need them (and fail loudly without them) in
# `make test`.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARG...]" >&2
  exit 2
fi

if [[ "${WITHOUT_SERVERS_INNER:-}" != 1 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "$0: needs root for a private mount namespace (unshare -m)" >&2
    exit 2
  fi
  exec env WITHOUT_SERVERS_INNER=1 unshare --mount --propagation private "$0" "$@"
fi

hidden=()
declare -A seen=()
hide() { # hide PATH...: cover each existing file (its symlink target) with /dev/null
  local p real
  for p in "$@"; do
    [[ -e "$p" ]] || continue
    real=$(realpath "$p")
    [[ -z "${seen[$real]:-}" ]] || continue
    seen[$real]=1
    mount --bind /dev/null "$real"
    hidden+=("$real")
  done
}

names=(mariadbd mysqld mariadb mysql mariadb-install-db mysql_install_db
  chromium chromium-browser google-chrome moto_server java javac mvn node npm)
for n in "${names[@]}"; do
  for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin /usr/libexec /root/.pyenv/shims; do
    hide "$d/$n"
  done
  # Every other copy on PATH (a venv's moto_server, an nvm node).
  while read -r p; do hide "$p"; done < <(type -ap "$n" 2>/dev/null || true)
done
# The repository's venv (moto_server, the Python drivers, PyMySQL's
# interpreter): an empty directory in its place. CONNBROKER_MOTO_SERVER
# and .venv/bin/moto_server are where mototest looks.
hide "${CONNBROKER_MOTO_SERVER:-/nonexistent}"
unset CONNBROKER_MOTO_SERVER
if [[ -d .venv ]]; then
  venv=$(realpath .venv)
  mount -t tmpfs -o size=1m,mode=0755 none "$venv"
  hidden+=("$venv/")
fi

for n in "${names[@]}"; do
  if command -v "$n" >/dev/null 2>&1 && [[ -x "$(command -v "$n")" && -f "$(command -v "$n")" ]]; then
    echo "$0: $n is still runnable at $(command -v "$n")" >&2
    exit 1
  fi
done
echo "without-servers: hid ${#hidden[@]} programs: ${hidden[*]}" >&2
exec "$@"
