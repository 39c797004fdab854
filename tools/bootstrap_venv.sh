#!/usr/bin/env bash
# Create (or refresh) a venv that stands in for a ROS 2 install: pinned ROS 2
# wheels, colcon and the test tools. Called by the Makefile when the
# requirements file, its constraints file or this script change.
#
#   tools/bootstrap_venv.sh VENV REQUIREMENTS CONSTRAINTS
#   (default: .venv requirements.txt constraints.txt, the Kilted environment)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv}"
requirements="${2:-$root/requirements.txt}"
constraints="${3:-$root/constraints.txt}"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "mtrace: creating $venv"
  python3 -m venv "$venv"
fi
echo "mtrace: installing pinned ROS 2 wheels and tools ($(basename "$requirements"))"
# pip's "Location ... is ignored" lines come from this machine's pip config.
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r "$requirements" -c "$constraints" \
  2> >(grep -v "^WARNING: Location '" >&2)
"$venv/bin/python" "$root/tools/fix_wheel_cmake_paths.py"
# The wheels install package.xml files under share/: keep colcon from
# mistaking them for packages of this workspace.
touch "$venv/COLCON_IGNORE"
touch "$venv/.mtrace-env-stamp"
