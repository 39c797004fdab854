#!/usr/bin/env bash
# Chromium for the browser tests (mtrace html in a real browser), from the
# distribution's packages, when it is missing. Under CI=true a Chromium that
# cannot be installed fails the run; elsewhere the browser tests skip and say so.
set -uo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
echo 'mtrace: installing Chromium for the browser tests (apt-get install chromium)'
if [[ "$(id -u)" == 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  sudo=(false)
fi
if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
   "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
  exit 0
fi
if [[ "${CI:-}" == true ]]; then
  echo 'mtrace: Chromium could not be installed, and CI=true: the browser tests need it' >&2
  exit 1
fi
echo 'mtrace: Chromium could not be installed: the browser tests will be skipped' >&2
exit 0
