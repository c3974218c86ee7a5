#!/usr/bin/env bash
# Regenerate the dependency locks from pyproject.toml, with hashes, for every platform
# and every Python from 3.11 up (markers such as audioop-lts's keep 3.13 apart):
#
#   requirements/test.lock     runtime + the `test` extra: what CI installs and tests
#   requirements/runtime.lock  runtime only, pinned to the same versions: for production
#
#   requirements/update.sh                          keep current pins, add what is new
#   requirements/update.sh --upgrade                move everything to the newest allowed
#   requirements/update.sh --upgrade-package twilio move one package
#
# Both locks also pin the build backend (requirements/build.in), so the project itself
# is built from a hashed release too.
#
# Install from them with:  pip install --no-deps --require-hashes -r requirements/runtime.lock
#                          pip install --no-deps --no-build-isolation -e .
# --no-deps: pip installs the lock's lines and nothing else, so it never resolves a
# dependency against the index (old pips resolve an extra such as google-auth[requests]
# to the newest release and then refuse it for having no pin).
set -euo pipefail
cd "$(dirname "$0")/.."

uv=${UV:-}
if [[ -z $uv ]]; then
  if command -v uv >/dev/null; then
    uv=uv
  elif [[ -x .venv/bin/uv ]]; then
    uv=.venv/bin/uv
  else
    tools=$(mktemp -d)
    trap 'rm -rf "$tools"' EXIT
    python3 -m venv "$tools" && "$tools/bin/pip" install -q uv
    uv=$tools/bin/uv
  fi
fi

common=(--universal --python-version 3.11 --generate-hashes --quiet
        --custom-compile-command requirements/update.sh)
# The test lock first; the runtime lock is constrained by it, so production runs
# exactly the versions CI tested.
"$uv" pip compile pyproject.toml requirements/build.in --extra test "${common[@]}" -o requirements/test.lock "$@"
"$uv" pip compile pyproject.toml requirements/build.in --constraint requirements/test.lock "${common[@]}" \
  -o requirements/runtime.lock
echo "wrote requirements/test.lock and requirements/runtime.lock"
