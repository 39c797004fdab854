# Source this file (`source ./activate.sh`) to use mtrace's environment in the
# current shell: the venv with the ROS 2 wheels (unless a ROS 2 distro is
# already sourced) and the colcon workspace's install/setup.bash.
# ROS_WHEELS picks the wheels: kilted (the default: .venv, install/) or jazzy
# (.venv-jazzy, install-jazzy/), e.g. `ROS_WHEELS=jazzy source ./activate.sh`.
# Build it first with `make build` (or `make test` / `make demo`, adding
# ROS_WHEELS=jazzy for Jazzy).

_mtrace_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_mtrace_ok=1
case "${ROS_WHEELS:-kilted}" in
  kilted) _mtrace_suffix='' ;;
  jazzy) _mtrace_suffix='-jazzy' ;;
  *)
    echo "mtrace: ROS_WHEELS must be kilted or jazzy, not '$ROS_WHEELS'" >&2
    _mtrace_ok=0
    ;;
esac
if [[ $_mtrace_ok == 1 && -n "${MTRACE_ROS_WHEELS:-}" \
      && "$MTRACE_ROS_WHEELS" != "${ROS_WHEELS:-kilted}" ]]; then
  # Two wheel sets in one process mix libraries: refuse instead.
  echo "mtrace: this shell already uses the $MTRACE_ROS_WHEELS environment;" \
    "open a new shell for ${ROS_WHEELS:-kilted}" >&2
  _mtrace_ok=0
fi
if [[ $_mtrace_ok == 1 && -z "${ROS_DISTRO:-}" ]]; then
  if [[ ! -f "$_mtrace_root/.venv$_mtrace_suffix/bin/activate" ]]; then
    echo "mtrace: no environment yet, run" \
      "'make build${_mtrace_suffix:+ ROS_WHEELS=${ROS_WHEELS}}' first" >&2
    _mtrace_ok=0
  else
    # shellcheck disable=SC1090
    source "$_mtrace_root/.venv$_mtrace_suffix/bin/activate"
    export MTRACE_ROS_WHEELS="${ROS_WHEELS:-kilted}"
    # The wheels install their ament index into the venv.
    case ":${AMENT_PREFIX_PATH:-}:" in
      *":$VIRTUAL_ENV:"*) ;;
      *) export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
    esac
  fi
fi
if [[ $_mtrace_ok == 1 && -f "$_mtrace_root/install$_mtrace_suffix/setup.bash" ]]; then
  # shellcheck disable=SC1090
  source "$_mtrace_root/install$_mtrace_suffix/setup.bash"
fi
unset _mtrace_root _mtrace_suffix
if [[ $_mtrace_ok == 0 ]]; then
  unset _mtrace_ok
  return 1
fi
unset _mtrace_ok
