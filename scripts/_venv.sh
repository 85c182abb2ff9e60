# Sourced by scripts/demo and scripts/test: defines orstream_venv, sets $root.
#   orstream_venv DIR core  a venv with a copy of the project alone (`pip install .`: the CPU
#                           engine with ONNX Runtime, no torch), what a user's install gives
#   orstream_venv DIR dev   a venv with the project editable and its dev and train extras
# Both pin what constraints-ci.txt pins (the CPU torch on this machine's disk), (re)install when
# DIR is missing or older than pyproject.toml (core: or than any source file), then put DIR
# first on PATH. ORSTREAM_FRESH_VENV=1 rebuilds DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

orstream_venv() {
  local venv="$1" mode="$2"
  local stamp="$venv/.orstream-installed"
  if [ "${ORSTREAM_FRESH_VENV:-0}" = 1 ]; then rm -rf "$venv"; fi
  if _orstream_stale "$stamp" "$mode"; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    local pip=("$venv/bin/python" -m pip install --quiet -c "$root/constraints-ci.txt")
    if [ "$mode" = core ]; then
      rm -rf "$root/build"  # setuptools would pack files left there by an earlier build
      "${pip[@]}" "$root"  # a project folder is always built and installed afresh
      if "$venv/bin/python" -c 'import importlib.util as u; exit(u.find_spec("torch") is None)'
      then echo "$venv holds torch; the core install must not (see pyproject.toml)" >&2; exit 1
      fi
    else
      # compat mode puts the repository on sys.path through a plain .pth line, which mypy and
      # other static tools can follow (the default mode uses an import hook they cannot see).
      "${pip[@]}" --config-settings editable_mode=compat -e "$root[dev,train]"
    fi
    touch "$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}

# True when the venv behind stamp $1 must be (re)installed for mode $2.
_orstream_stale() {
  local stamp="$1" mode="$2"
  [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] && return 0
  [ "$mode" = core ] || return 1
  local newer
  newer="$(find "$root"/orstream "$root"/stream "$root"/kernels "$root"/sim "$root"/policies \
    "$root"/bench -newer "$stamp" -not -path '*/__pycache__/*' -type f -print -quit)"
  [ -n "$newer" ]
}
