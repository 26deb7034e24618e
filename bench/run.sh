#!/usr/bin/env bash
# npm run bench: builds kmesh-opa, installs the pinned opa and ghz, finds the Go reference plugin, then
# runs the A/B harness (bench/harness.mjs). Knobs are environment variables: bash bench/run.sh --help.
#
# The plugin: $OPA_ENVOY_PLUGIN when set; else built into the git-ignored .tools/bin by the shared peers'
# script when ../shared/peers exists (reused once built); else kmesh-opa is benchmarked alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  node bench/harness.mjs --help
  exit 0
fi

[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || npm run build --silent
tools=$(bash scripts/install-tools.sh opa ghz)
export GHZ="$tools/ghz" OPA="$tools/opa"

peers="$root/../shared/peers"
if [ -n "${OPA_ENVOY_PLUGIN:-}" ]; then
  [ -x "$OPA_ENVOY_PLUGIN" ] || { echo "bench: OPA_ENVOY_PLUGIN=$OPA_ENVOY_PLUGIN is not an executable file" >&2; exit 1; }
elif [ -d "$peers" ]; then
  echo "bench: building (or reusing) the Go opa-envoy-plugin in $tools" >&2
  OPA_ENVOY_PLUGIN=$(bash "$peers/build-opa-envoy-plugin.sh" "$tools")
else
  cat >&2 <<'MSG'
bench: no Go opa-envoy-plugin to compare with (OPA_ENVOY_PLUGIN is unset and ../shared/peers is absent),
bench: so kmesh-opa is benchmarked alone. To compare, set OPA_ENVOY_PLUGIN to the plugin binary (v1.19.1-envoy):
bench:   its container image ships it:  docker create --name opa-envoy openpolicyagent/opa:1.19.1-envoy
bench:                                  docker cp opa-envoy:/app/opa_envoy_linux_amd64 ./opa-envoy-plugin
bench:                                  docker rm opa-envoy
bench:   or take opa_envoy_linux_amd64_static from the plugin's GitHub release v1.19.1-envoy.
MSG
  OPA_ENVOY_PLUGIN=
fi
export OPA_ENVOY_PLUGIN

exec node bench/harness.mjs
