# syntax=docker/dockerfile:1
# kmesh-opa container image: the agent on Node.js LTS, with the pinned opa compiler so that Rego policies
# can be compiled at run time.
#   docker build -t kmesh-opa .
#   docker run --rm -p 9191:9191 -p 8181:8181 -p 8282:8282 kmesh-opa
# CI has no container engine: scripts/image-build-check.sh lints this file, performs its steps in a
# temporary directory and starts the result as an engine would.

ARG NODE_VERSION=24
ARG GO_VERSION=1.26

# --- the opa compiler, built from source at the version scripts/install-tools.sh pins
FROM golang:${GO_VERSION}-bookworm AS opa
ARG OPA_VERSION=v1.19.1
RUN GOBIN=/out GOFLAGS=-trimpath CGO_ENABLED=0 go install github.com/open-policy-agent/opa@${OPA_VERSION}

# --- TypeScript build, then the development dependencies are dropped
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# --- runtime: production dependencies only, as the base image's non-root user "node"
FROM node:${NODE_VERSION}-bookworm-slim
# Every setting is an environment variable (and a flag; `kmesh-opa run --help` lists them):
#   KMESH_OPA_EXT_AUTHZ_ADDR         Envoy ext_authz gRPC listener (9191 here)
#   KMESH_OPA_ADDR                   OPA REST API listener (8181 here)
#   KMESH_OPA_DIAGNOSTIC_ADDR        health (/health, /health/ready) and /metrics listener (8282 here)
#   KMESH_OPA_POLICY, KMESH_OPA_DATA policy files (bundle, .wasm with its data, or .rego); default: the
#                                    embedded Kong Mesh JWT example
#   KMESH_OPA_PATH, KMESH_OPA_QUERY  the decision (default data.envoy.authz.allow)
#   KMESH_OPA_CONFIG_PATH, KMESH_OPA_CONFIG_OVERRIDES   OPA config file and --set style overrides
#   KMESH_OPA_STATUS_ON_ERROR, KMESH_OPA_ON_AGENT_FAILURE, KMESH_OPA_REQUEST_BODY_MAX_SIZE,
#   KMESH_OPA_REQUEST_BODY_SEND_RAW  Kong Mesh's authConfig
#   KMESH_OPA_DRY_RUN, KMESH_OPA_SKIP_REQUEST_BODY_PARSE, KMESH_OPA_ENABLE_REFLECTION,
#   KMESH_OPA_GRPC_MAX_RECV_MSG_SIZE, KMESH_OPA_GRPC_MAX_SEND_MSG_SIZE,
#   KMESH_OPA_GRPC_REQUEST_DURATION_SECONDS_BUCKETS   the Go plugin's options
#   KMESH_OPA_REGO_VERSION, KMESH_OPA_COMPILER, KMESH_OPA_CACHE_DIR   Rego compilation (cache default:
#                                    ~/.cache/kmesh-opa, in the node user's home)
#   KMESH_OPA_WASM_MAX_MEMORY_MB, KMESH_OPA_SHUTDOWN_GRACE_SECONDS, KMESH_OPA_LOG_LEVEL, KMESH_OPA_ENABLED
#   KMESH_OPA_READY_FD, KMESH_OPA_EXIT_WITH_PARENT   for a supervising process (see the README)
#   KUMA_DATAPLANE_MESH, KUMA_DATAPLANE_NAME          the data plane's identity, as kuma-dp exports it
#   KMESH_OPA_DATAPLANE_TAGS, KMESH_OPA_DATAPLANE_FILE the tags OPAPolicy selectors are matched against
#   KMESH_OPA_RESOURCES_DIR          a directory of Universal resources (OPAPolicy, Secret, ...), watched
#   KMESH_OPA_DATA_DIR               token key and API-written resources (default ~/.local/state/kmesh-opa)
#   KMESH_OPA_API_AUTHN_LOCALHOST_IS_ADMIN   localhost callers are admin (default true). Kuma's default
#                                    RBAC binding lets anyone write; restrict it (README, "RBAC") when
#                                    KMESH_OPA_ADDR is reachable from outside the pod.
ENV NODE_ENV=production \
    KMESH_OPA_COMPILER=/usr/local/bin/opa \
    KMESH_OPA_ADDR=0.0.0.0:8181 \
    KMESH_OPA_DIAGNOSTIC_ADDR=0.0.0.0:8282 \
    KMESH_OPA_EXT_AUTHZ_ADDR=0.0.0.0:9191
WORKDIR /app
COPY --from=opa /out/opa /usr/local/bin/opa
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY protos ./protos
COPY policies ./policies
USER node
EXPOSE 9191 8181 8282
# Follows KMESH_OPA_DIAGNOSTIC_ADDR's port when a deployment changes it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "const a=process.env.KMESH_OPA_DIAGNOSTIC_ADDR||':8282';fetch('http://127.0.0.1:'+a.slice(a.lastIndexOf(':')+1)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["run"]
