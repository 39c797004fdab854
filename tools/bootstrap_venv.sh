#!/usr/bin/env bash
# Create (or refresh) the venv that stands in for a ROS 2 install: the pinned
# ROS 2 Kilted wheels, colcon and the test tools. Called by the Makefile when
# requirements.txt, constraints.txt or this script change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv}"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "mtrace: creating $venv"
  python3 -m venv "$venv"
fi
echo 'mtrace: installing pinned ROS 2 Kilted wheels and tools (requirements.txt)'
# pip's "Location ... is ignored" lines come from this machine's pip config.
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r "$root/requirements.txt" -c "$root/constraints.txt" \
  2> >(grep -v "^WARNING: Location '" >&2)
"$venv/bin/python" "$root/tools/fix_wheel_cmake_paths.py"
# The wheels install package.xml files under share/: keep colcon from
# mistaking them for packages of this workspace.
touch "$venv/COLCON_IGNORE"
touch "$venv/.mtrace-env-stamp"
