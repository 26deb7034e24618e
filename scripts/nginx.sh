#!/usr/bin/env bash
# Installs nginx from Debian's packages when it is absent, for the bundle-server tests, and prints
# the binary's path. The tests start their own nginx on a loopback port; the package's own service
# must not start (it would listen on port 80 of every address), hence the temporary policy-rc.d.
set -euo pipefail

find_nginx() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || return 1
}

if path=$(find_nginx); then
  echo "$path"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "nginx is not installed and installing it needs root: apt-get install -y nginx" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once, only when the install cannot find it.
if ! apt-get install -y --no-install-recommends nginx >/dev/null; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends nginx >/dev/null
fi
find_nginx
