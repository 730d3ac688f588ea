#!/usr/bin/env bash
# Installs the Debian packages the project needs, if any are missing. Idempotent; needs root or sudo.
set -euo pipefail
packages=(python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 -m venv may already work without python3-venv (e.g. a pyenv or python.org build)
if [ "${#missing[@]}" -eq 1 ] && [ "${missing[0]}" = python3-venv ] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=()
fi
[ "${#missing[@]}" -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
