# syntax=docker/dockerfile:1
#
# Parley's production image. One image holds the three services; a build target per service
# sets its default command, port and health check:
#
#   docker build --target gateway  -t parley-gateway  .   # the default (last) target
#   docker build --target auth     -t parley-auth     .
#   docker build --target presence -t parley-presence .
#
# Every target runs any service when given its command, which is what the Helm chart does
# with one image: args ["node", "services/<service>/src/main.ts"].
# Code runs from the TypeScript sources with Node 24's type stripping: there is no build step.
# The image runs as uid 10001, writes nothing outside /tmp (mount an emptyDir there with a
# read-only root filesystem), and tini (PID 1) forwards SIGTERM to Node, whose handlers drain.
#
# scripts/image-smoke.sh reproduces the COPY and `npm ci` steps below and starts each target's
# CMD, so keep those instructions plain (one source, one destination, no shell tricks).

ARG NODE_IMAGE=node:24-trixie-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY loadtest/package.json ./loadtest/package.json
COPY packages ./packages
COPY services ./services
COPY apps ./apps
COPY deploy/docker/healthcheck.mjs ./deploy/docker/healthcheck.mjs
# The registry and its certificate authority are the builder's when it passes them as build secrets
# (scripts/build-images.sh passes the host's npm configuration); without them, npm's defaults.
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=npmrc,target=/root/.npmrc --mount=type=secret,id=npm-ca,target=/run/secrets/npm-ca npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --system --gid 10001 parley \
  && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin parley
WORKDIR /app
# Owned by root and not writable by the service user: the code cannot be changed at run time.
COPY --from=deps /app /app
ENV NODE_ENV=production \
    HOST=0.0.0.0
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]

FROM runtime AS auth
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "deploy/docker/healthcheck.mjs", "8081"]
CMD ["node", "services/auth/src/main.ts"]

FROM runtime AS presence
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "deploy/docker/healthcheck.mjs", "8082"]
CMD ["node", "services/presence/src/main.ts"]

FROM runtime AS webhooks
EXPOSE 8083
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "deploy/docker/healthcheck.mjs", "8083"]
CMD ["node", "services/webhooks/src/main.ts"]

FROM runtime AS gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "deploy/docker/healthcheck.mjs", "8080"]
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=20", "services/gateway/src/main.ts"]
