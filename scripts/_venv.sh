# Sourced by scripts/demo and scripts/test: make .venv with orstream and its dev and train
# extras (the CPU torch on this machine's disk, pinned by constraints-ci.txt).
# ORSTREAM_VENV overrides the location; ORSTREAM_FRESH_VENV=1 rebuilds it from scratch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ORSTREAM_VENV:-$root/.venv}"
if [ "${ORSTREAM_FRESH_VENV:-0}" = 1 ]; then rm -rf "$venv"; fi
stamp="$venv/.orstream-installed"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # compat mode puts the repository on sys.path through a plain .pth line, which mypy and
  # other static tools can follow (the default mode uses an import hook they cannot see).
  "$venv/bin/python" -m pip install --quiet -c "$root/constraints-ci.txt" \
    --config-settings editable_mode=compat -e "$root[dev,train]"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
