#!/usr/bin/env bash
# Installs the pinned Go tools the project runs for real (the opa compiler, ghz, grpcurl) into a
# git-ignored project folder, reusing whatever is already there. Prints the folder.
#   scripts/install-tools.sh [opa|ghz|grpcurl ...]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${KMESH_OPA_TOOLS_DIR:-$root/.tools}/bin"
mkdir -p "$bin"

OPA_VERSION=v1.19.1        # the OPA the reference Go plugin (v1.19.1-envoy) embeds
GHZ_VERSION=v0.120.0
GRPCURL_VERSION=v1.9.3

want() { # name module version
  local name=$1 module=$2 version=$3 stamp="$bin/.$1.version"
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return; fi
  command -v go >/dev/null || { echo "install-tools: Go is needed to install $name ($module@$version)" >&2; exit 1; }
  echo "install-tools: go install $module@$version" >&2
  GOBIN="$bin" GOFLAGS=-trimpath go install "$module@$version" >&2
  echo "$version" >"$stamp"
}

tools=("$@"); [ ${#tools[@]} -gt 0 ] || tools=(opa ghz grpcurl)
for t in "${tools[@]}"; do
  case "$t" in
    opa) want opa github.com/open-policy-agent/opa "$OPA_VERSION" ;;
    ghz) want ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION" ;;
    grpcurl) want grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION" ;;
    *) echo "install-tools: unknown tool $t (opa, ghz, grpcurl)" >&2; exit 2 ;;
  esac
done
echo "$bin"
