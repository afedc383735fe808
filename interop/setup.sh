#!/usr/bin/env bash
# Creates interop/.venv with River's Python package (interop/requirements.txt) for the
# interop tests in spec/tests/interop/. Idempotent: does nothing when the venv already
# has the pinned replit-river and was installed from this very requirements.txt. Prints the
# venv's python path last.
#
# Python 3.12 or newer is needed (replit-river 0.17.20 requires it). It is looked for as
# $RIVER_INTEROP_BASE_PYTHON, then python3.12 / python3.13 on PATH, then pyenv's versions.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"
pin="$(grep -E '^replit-river==' "$requirements" | head -n1)"
version="${pin#replit-river==}"

usable() {
    # A python that runs and is at least 3.12 (pyenv shims that refuse fail here).
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    if [ -n "${RIVER_INTEROP_BASE_PYTHON:-}" ]; then
        if usable "$RIVER_INTEROP_BASE_PYTHON"; then
            echo "$RIVER_INTEROP_BASE_PYTHON"
            return 0
        fi
        echo "interop/setup.sh: RIVER_INTEROP_BASE_PYTHON=$RIVER_INTEROP_BASE_PYTHON is not a working python >= 3.12" >&2
        return 1
    fi
    local candidate
    for candidate in python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && usable "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    local root="${PYENV_ROOT:-}"
    if [ -z "$root" ] && command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root 2>/dev/null || true)"
    fi
    [ -n "$root" ] || root="$HOME/.pyenv"
    for candidate in "$root"/versions/3.12.*/bin/python3.12 "$root"/versions/3.13.*/bin/python3.13; do
        if [ -x "$candidate" ] && usable "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

venv_python="$venv/bin/python"
stamp="$venv/.requirements.txt"
if [ -x "$venv_python" ] && usable "$venv_python"; then
    installed="$("$venv_python" -c 'import importlib.metadata as m; print(m.version("replit-river"))' 2>/dev/null || true)"
    if [ "$installed" = "$version" ] && cmp -s "$requirements" "$stamp"; then
        echo "interop/setup.sh: replit-river $version already installed" >&2
        echo "$venv_python"
        exit 0
    fi
else
    if ! base="$(find_python)"; then
        echo "interop/setup.sh: no Python >= 3.12 found (tried \$RIVER_INTEROP_BASE_PYTHON, python3.12, python3.13 and python3 on PATH, and pyenv's versions/3.12.* and 3.13.*); install Python 3.12 (e.g. 'pyenv install 3.12') and run this again" >&2
        exit 1
    fi
    echo "interop/setup.sh: creating $venv with $base ($("$base" --version 2>&1))" >&2
    rm -rf "$venv"
    "$base" -m venv "$venv"
fi
echo "interop/setup.sh: installing $pin" >&2
"$venv_python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
"$venv_python" -c "import replit_river, replit_river.v2, replit_river.server, websockets" >&2
cp "$requirements" "$stamp"
echo "$venv_python"
