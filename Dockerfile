# syntax=docker/dockerfile:1
#
# The fraud-scoring service: gRPC on 50051, Prometheus metrics on 9464.
#
#   docker buildx build -t fraud-scoring:dev --load .
#   docker run --rm -p 50051:50051 -p 9464:9464 --read-only fraud-scoring:dev
#
# Every stage but the last runs on the build machine's platform: the
# TypeScript output is platform-neutral, the npm packages hold prebuilt binaries
# for every platform (nothing is compiled), and Go cross-compiles. A multi-arch
# build therefore emulates nothing; the final stage only copies files.

# The Node.js the service is built and tested on: package.json's devDependency
# "node" (which npm scripts run) and the distroless runtime below, all Node 24 LTS.
ARG NODE_VERSION=24.21.0

# grpc_health_probe for the HEALTHCHECK (and `kubectl exec` debugging). Built
# from source at a pinned module version: `go install` verifies the module
# against the Go checksum database (sum.golang.org), which pins the exact
# source of v0.4.62 the way a release asset's sha256 would, without a
# hand-copied checksum.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS health-probe
ARG TARGETOS
ARG TARGETARCH
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.62
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath
RUN GOOS="${TARGETOS}" GOARCH="${TARGETARCH}" \
      go install -ldflags="-s -w" "github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION}" \
 && mkdir -p /out \
 && if [ -f "/go/bin/${TARGETOS}_${TARGETARCH}/grpc-health-probe" ]; then \
      cp "/go/bin/${TARGETOS}_${TARGETARCH}/grpc-health-probe" /out/grpc_health_probe; \
    else \
      cp /go/bin/grpc-health-probe /out/grpc_health_probe; \
    fi

# TypeScript -> dist/ (`npm ci && npm run build`). No install scripts run:
# the compiler needs none, onnxruntime-node's would download CUDA, and the
# `node` devDependency's would fetch a second Node.js (this image has one).
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip npm_config_update_notifier=false
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY client ./client
COPY bench ./bench
COPY test ./test
RUN npm run build

# Production dependencies only, then the onnxruntime binaries of the other
# platforms removed (about 250 MB of darwin, win32 and other-CPU libraries).
# ONNXRUNTIME_NODE_INSTALL=skip is onnxruntime-node's own switch for its CUDA
# download; --ignore-scripts makes sure no install script downloads anything.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS prod-deps
ARG TARGETARCH
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip npm_config_update_notifier=false
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts \
 && arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
 && case "${arch}" in amd64) keep=x64 ;; arm64) keep=arm64 ;; *) echo "unsupported architecture ${arch}" >&2; exit 1 ;; esac \
 && ort=node_modules/onnxruntime-node/bin/napi-v6 \
 && find "${ort}" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + \
 && find "${ort}/linux" -mindepth 1 -maxdepth 1 ! -name "${keep}" -exec rm -rf {} + \
 && test -f "${ort}/linux/${keep}/onnxruntime_binding.node"

# Runtime: distroless Node.js 24 on Debian 12 (glibc, which onnxruntime needs),
# no shell, no package manager, user nonroot (65532). Everything is owned by
# root and read-only to the service; it writes only to FRAUD_MODEL_CACHE_DIR
# when set (a volume), so it runs with a read-only root filesystem.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=""
LABEL org.opencontainers.image.title="fraud-scoring" \
      org.opencontainers.image.description="Real-time card-fraud scoring over gRPC (onnxruntime-node); models bundled or polled from S3/lakeFS" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
WORKDIR /app
ENV NODE_ENV=production
# package.json: "type": "module" for dist/, and the marker the service walks up
# to for its root (models/, src/gen/fraud.binpb).
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY models/*.json models/*.onnx ./models/
COPY src/gen/fraud.binpb ./src/gen/fraud.binpb
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/client ./dist/client
COPY --from=health-probe /out/grpc_health_probe /usr/local/bin/grpc_health_probe
USER 65532:65532
EXPOSE 50051 9464
# Healthy once both models are loaded (the same check as Kubernetes readiness).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/grpc_health_probe", "-addr=127.0.0.1:50051", "-service=fraud.v1.FraudService", "-connect-timeout=2s", "-rpc-timeout=2s"]
# The base image's entrypoint is node; the CLI is `node dist/client/bin.js`.
# The heap settings the memory bounds are sized for (src/nodeFlags.ts).
CMD ["--max-semi-space-size=16", "--heap-growing-percent=50", "dist/src/main.js"]
