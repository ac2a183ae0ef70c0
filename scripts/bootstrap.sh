#!/usr/bin/env bash
# Installs what Billbridge needs on a fresh Debian/Ubuntu machine: the few system packages
# Qt and the tests need, then a virtual environment in .venv with Billbridge in it.
# Sourced by scripts/demo and scripts/test; safe to run again (it skips what is there).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then sudo_cmd=(sudo); fi
fi

want=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 fonts-dejavu-core)
if [[ ${BILLBRIDGE_WITH_POSTGRES:-0} == 1 ]] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  want+=(postgresql)
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  want+=(python3-venv)
fi
missing=()
for package in "${want[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "Installing system packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.billbridge-installed
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "Installing Billbridge and its Python dependencies into .venv"
  log=$(mktemp)
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[dev,postgres]"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "Installing the Python dependencies failed (see above)." >&2
    exit 1
  fi
  rm -f "$log"
  .venv/bin/python -c 'import desktop, PySide6, sqlalchemy, httpx' # fail loudly if the install did
  touch "$stamp"
fi
