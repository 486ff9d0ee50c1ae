# syntax=docker/dockerfile:1
#
# llm-proxy-auth: built with Node 22 on Debian 12, run on distroless Node 22 (Debian 12, no shell,
# no package manager) as uid/gid 65532, on a read-only root file system with one writable volume.
#
#   docker build -t llm-proxy-auth .
#   docker run --read-only -p 8080:8080 -v llmproxy-data:/data llm-proxy-auth
#
# test/deploy/image.test.ts reads this file: it rebuilds the runtime stage's file system from the
# COPY lines below and runs it with the same USER, ENV, WORKDIR, ENTRYPOINT, CMD and HEALTHCHECK.
# See docs/deploy-container.md.

# --- build: compile the TypeScript; the dev dependencies live only in this stage ---------------
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the root "prepare" would compile before the sources are here, and the
# compiler needs no native addon (the runtime's addons are built in the deps stage).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# The admin console's browser app and its build script (npm run build type-checks and bundles it
# into dist/console/).
COPY console ./console
COPY scripts/build-console.mjs ./scripts/
RUN npm run build

# --- deps: production dependencies only, native addons built for this Node and glibc ----------
FROM node:22-bookworm-slim AS deps
# better-sqlite3 downloads a prebuilt binary, or compiles SQLite where none can be fetched;
# argon2 ships its binaries. Debian 12 here = the glibc of distroless debian12 at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# "npm rebuild" runs every dependency's install script (the native addons) but not the root
# "prepare" (a TypeScript build, whose compiler is a dev dependency and is not installed here).
# ./data -> /data: the built-in demo config keeps its SQLite file in ./data/ under the working
# directory; the link puts it on the volume, the only writable place.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild \
 && npm cache clean --force \
 && ln -s /data data \
 && mkdir -p /data

# --- runtime ------------------------------------------------------------------------------------
FROM gcr.io/distroless/nodejs22-debian12 AS runtime
COPY --from=deps /app /app
COPY --from=build /src/dist/src /app/dist/src
COPY --from=build /src/dist/console /app/dist/console
COPY LICENSE /app/LICENSE
COPY --from=deps --chown=65532:65532 /data /data
WORKDIR /app
# HOST: listen on every interface of the container (the demo config says 127.0.0.1, which a
# published port cannot reach). PORT is left to the config file: an image default would
# override it (environment > file).
# MALLOC_MMAP_THRESHOLD_: glibc serves allocations from 128 KiB up with their own mappings,
# returned on free. Without it, glibc raises that threshold to the size of the first large block
# freed (argon2's 19 MiB, at start), and every thread that later hashes a key keeps 19 MiB, as
# does the compiler memory freed after the first load: about 25 MB of peak RSS measured under
# load, 77 MB after four concurrent hashes (docs/performance.md). V8's settings are the
# gateway's own (src/cli/memory.ts); glibc reads its settings only from the environment.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    MALLOC_MMAP_THRESHOLD_=131072
LABEL org.opencontainers.image.title="llm-proxy-auth" \
      org.opencontainers.image.description="Multi-provider LLM gateway with credential isolation" \
      org.opencontainers.image.licenses="Apache-2.0"
# nonroot in distroless; numeric so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
VOLUME ["/data"]
# 8080 HTTP (server.port), 8443 HTTPS (server.tls.port, when TLS is configured),
# 9090 metrics (only when server.metrics.port: 9090 is configured; otherwise /metrics is on 8080).
EXPOSE 8080 8443 9090
STOPSIGNAL SIGTERM
# No shell or curl in distroless: node itself asks /health (PORT, else 8080). Kubernetes
# ignores this and uses the Deployment's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/nodejs/bin/node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
