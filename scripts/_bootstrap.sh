# Sourced by scripts/demo and scripts/test: make (or reuse) a virtualenv and install Shipyard into it.
# SHIPYARD_VENV picks the folder (default .venv); EXTRAS the pip extras to install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHIPYARD_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
# torch is pinned to the CPU build through the constraints file (any other spec pulls CUDA wheels).
"$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" -e "$root[${EXTRAS}]"
export PATH="$venv/bin:$PATH"
cd "$root"
