# kmesh-opa container image: the agent on the current Node.js LTS, with the pinned opa compiler so that
# Rego policies can be compiled at run time. Build: docker build -t kmesh-opa .
# Run:   docker run --rm -p 9191:9191 -p 8181:8181 -p 8282:8282 kmesh-opa

# --- the opa compiler, built from the Go module proxy at the version the project pins
FROM golang:1.26-bookworm AS opa
ARG OPA_VERSION=v1.19.1
RUN GOBIN=/out GOFLAGS=-trimpath CGO_ENABLED=0 go install github.com/open-policy-agent/opa@${OPA_VERSION}

# --- TypeScript build
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# --- runtime: production dependencies only, non-root
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    KMESH_OPA_COMPILER=/usr/local/bin/opa \
    KMESH_OPA_CACHE_DIR=/var/cache/kmesh-opa \
    KMESH_OPA_ADDR=0.0.0.0:8181 \
    KMESH_OPA_DIAGNOSTIC_ADDR=0.0.0.0:8282 \
    KMESH_OPA_EXT_AUTHZ_ADDR=0.0.0.0:9191
# Other settings (see `kmesh-opa run --help`): KMESH_OPA_CONFIG_PATH, KMESH_OPA_CONFIG_OVERRIDES,
# KMESH_OPA_ENABLED, KMESH_OPA_STATUS_ON_ERROR, KMESH_OPA_ON_AGENT_FAILURE, KMESH_OPA_REQUEST_BODY_MAX_SIZE,
# KMESH_OPA_REQUEST_BODY_SEND_RAW, KMESH_OPA_LOG_LEVEL.
WORKDIR /app
COPY --from=opa /out/opa /usr/local/bin/opa
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY protos ./protos
COPY policies ./policies
RUN mkdir -p /var/cache/kmesh-opa && chown node:node /var/cache/kmesh-opa
USER node
EXPOSE 9191 8181 8282
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8282/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["run"]
