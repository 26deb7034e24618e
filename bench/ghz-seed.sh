#!/usr/bin/env bash
# The simplest load test: ghz against an already running kmesh-opa that enforces the seed JWT policy
# (policies/default.rego, what kmesh-opa enforces when given no policy), with the seed's admin token in
# an Envoy-shaped CheckRequest, for a fixed number of requests. Prints requests/s, p50 and p99.
#   npm start -- --opa-ext-authz-addr 127.0.0.1:9191 &      # or: node dist/cli/main.js run ...
#   bash bench/ghz-seed.sh [host:port]                      # default 127.0.0.1:9191
# Env: N requests [20000], C concurrency [16], CONNECTIONS [2].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
addr=${1:-127.0.0.1:9191}
n=${N:-20000} c=${C:-16} connections=${CONNECTIONS:-2}
ghz="$(bash scripts/install-tools.sh ghz)/ghz"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# The request, and a check that it is allowed: ghz counts a denial as a gRPC OK.
ADDR=$addr OUT="$tmp/request.json" node --input-type=module -e '
  import { writeFileSync } from "node:fs";
  import { checkOnce, OK } from "./bench/lib/envoy.mjs";
  import { workload } from "./bench/lib/workloads.mjs";
  const { request } = workload("jwt");
  writeFileSync(process.env.OUT, JSON.stringify(request));
  const code = await checkOnce(process.env.ADDR, request).catch((err) => {
    console.error(`ghz-seed: no ext_authz answer from ${process.env.ADDR}: ${err.details ?? err.message}`);
    process.exit(1);
  });
  if (code !== OK) { console.error(`ghz-seed: ${process.env.ADDR} answered status ${code}, not OK: is it enforcing the seed JWT policy?`); process.exit(1); }
'

proto=node_modules/@grpc/grpc-js-xds/deps
"$ghz" --proto "$proto/envoy-api/envoy/service/auth/v3/external_auth.proto" \
  -i "$proto/envoy-api,$proto/googleapis,$proto/protoc-gen-validate,$proto/xds" \
  --call envoy.service.auth.v3.Authorization.Check -D "$tmp/request.json" --insecure \
  -n "$n" -c "$c" --connections "$connections" \
  --disable-template-functions --disable-template-data -O json -o "$tmp/report.json" "$addr"

REPORT="$tmp/report.json" N=$n C=$c node -e '
  const r = JSON.parse(require("fs").readFileSync(process.env.REPORT, "utf8"));
  const p = (q) => (r.latencyDistribution.find((d) => d.percentage === q).latency / 1e6).toFixed(2);
  const bad = r.count - (r.statusCodeDistribution.OK ?? 0);
  console.log(`${r.count} requests (c=${process.env.C}): ${r.rps.toFixed(0)} req/s, p50 ${p(50)} ms, p99 ${p(99)} ms${bad ? `, ${bad} NOT OK` : ""}`);
'
