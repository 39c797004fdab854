# Source this file (`source ./activate.sh`) to use mtrace's environment in the
# current shell: the venv with the ROS 2 wheels (unless a ROS 2 distro is
# already sourced) and the colcon workspace's install/setup.bash.
# Build it first with `make build` (or `make test` / `make demo`).

_mtrace_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${ROS_DISTRO:-}" ]]; then
  if [[ ! -f "$_mtrace_root/.venv/bin/activate" ]]; then
    echo "mtrace: no environment yet, run 'make build' first" >&2
    return 1
  fi
  # shellcheck disable=SC1091
  source "$_mtrace_root/.venv/bin/activate"
  # The wheels install their ament index into the venv.
  case ":${AMENT_PREFIX_PATH:-}:" in
    *":$VIRTUAL_ENV:"*) ;;
    *) export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
  esac
fi
if [[ -f "$_mtrace_root/install/setup.bash" ]]; then
  # shellcheck disable=SC1091
  source "$_mtrace_root/install/setup.bash"
fi
unset _mtrace_root
