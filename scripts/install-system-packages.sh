#!/usr/bin/env bash
# Installs the Debian packages the project needs, if any are missing. Idempotent; needs root or sudo.
set -euo pipefail
# python3-venv: the project's virtualenv; r-base-core + r-cran-matchit: the tests that check our
# nearest-neighbour matching against R's MatchIt on the same data; chromium: the headless browser
# that nbconvert's webpdf exporter drives (through Playwright) to print reports to PDF; the
# project always uses this system build (/usr/bin/chromium) and never downloads a browser;
# poppler-utils: pdfinfo/pdftotext/pdftoppm, which the publishing tests use to read the PDFs;
# fonts-liberation2 and fonts-dejavu-core: the reports' type (Liberation Sans, metric-compatible
# with Arial, and DejaVu Sans for every other character; report.css names them, a page loads no font)
packages=(python3-venv r-base-core r-cran-matchit chromium poppler-utils fonts-liberation2 fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 -m venv may already work without python3-venv (e.g. a pyenv or python.org build)
if python3 -c 'import venv, ensurepip' 2>/dev/null; then
  kept=()
  for p in "${missing[@]}"; do [ "$p" = python3-venv ] || kept+=("$p"); done
  missing=("${kept[@]}")
fi
[ "${#missing[@]}" -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
