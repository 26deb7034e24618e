#!/usr/bin/env bash
# Checks the container image without a container engine: lints the Dockerfile (dockerfile-utils, from
# the dev dependencies), then builds it step by step in a temporary directory and starts the result as
# an engine would (scripts/image-build-check.mjs). Prints "image-build-check: ok" when all holds.
#   scripts/image-build-check.sh [Dockerfile]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=${1:-$root/Dockerfile}
lint=$(node "$root/node_modules/dockerfile-utils/bin/dockerfile-utils" lint "$dockerfile") || {
  printf 'image-build-check: the Dockerfile linter found problems:\n%s\n' "$lint" >&2
  exit 1
}
echo "image-build-check: dockerfile-utils lint: no problems"
bash "$root/scripts/install-tools.sh" opa >/dev/null
exec node "$root/scripts/image-build-check.mjs" "$dockerfile"
