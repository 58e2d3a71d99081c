# syntax=docker/dockerfile:1
#
# Transfer-learning job server images.
#
#   docker build --target cpu -t transfer-server:cpu .   # also the default target
#   docker build --target gpu -t transfer-server:gpu .   # CUDA 12 + cuDNN 9, needs the NVIDIA container toolkit
#
# Stage order matters for the classic builder (Debian's docker-compose 1.29 and `docker build` without
# BuildKit): it builds every stage up to the target, so the cpu stages come first and a cpu build never
# pulls the CUDA image or downloads ONNX Runtime's CUDA add-on. BuildKit builds only what the target needs.
#
# One image per flavour runs every role; the command picks it:
#   npm run start:api | npm run start:worker | npm run start:predict-worker   (default: the API)
#
# The server has no build step: tsx runs the TypeScript sources directly. The web dashboard has one
# (`npm run build:web`, Vite), run in each image after the sources are copied. tsx and Vite are
# devDependencies, so the images run a full `npm ci` (dev dependencies included) rather than
# `npm ci --omit=dev`; the extra weight is biome + typescript + vite + test helpers, small next to
# onnxruntime and TF.js.
# NODE_ENV is deliberately not set to "production" before `npm ci`: that would make npm drop the
# devDependencies, tsx with them.

ARG NODE_IMAGE=node:20-bookworm-slim
# ONNX Runtime's CUDA 12 build needs CUDA 12.x and cuDNN 9.x; the `-cudnn-` tags from 12.3 on ship cuDNN 9.
# CUDA minor-version compatibility lets this run on any driver >= 525.60.
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

# ---------------------------------------------------------------------------------------------------
# base: Node 20 on Debian bookworm with the dependencies installed (CPU onnxruntime).
FROM ${NODE_IMAGE} AS base
WORKDIR /app
# onnxruntime-node ships its CPU binary inside the npm package; skip its postinstall download.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# npm 10 in this image runs install scripts (sharp, onnxruntime-node) without asking.
RUN npm ci --no-audit --no-fund \
 && npm cache clean --force
# The data volume's mount point, owned by the unprivileged `node` user (uid 1000) that the image
# provides. A named volume mounted here for the first time inherits this ownership.
RUN mkdir -p /data && chown node:node /data

# ---------------------------------------------------------------------------------------------------
# cpu: onnxruntime's CPU execution provider.
FROM base AS cpu
COPY . .
# The web dashboard (web/ -> web/dist, served by the API at /).
RUN npm run build:web
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    EXECUTION_PROVIDER=cpu
VOLUME ["/data"]
USER node
EXPOSE 3000
# Meaningful for the API only; compose disables it for the worker services.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["npm", "run", "start:api"]

# ---------------------------------------------------------------------------------------------------
# The official Node.js image, used only as a source of the node binary and npm for the GPU image.
FROM ${NODE_IMAGE} AS node-dist

# ---------------------------------------------------------------------------------------------------
# gpu: CUDA runtime + cuDNN image with Node 20 copied in from the official Node image.
#
# Why copy instead of installing Node: NodeSource needs a third-party apt repository and Ubuntu's own
# nodejs is too old. The official image's /usr/local/bin/node is the portable nodejs.org build (glibc
# >= 2.28, Ubuntu 22.04 has 2.35), so the very same, version-pinned binary as the cpu image runs here.
# npm and corepack live in /usr/local/lib/node_modules; /usr/local/bin/npm and npx are symlinks into
# it, and COPY would dereference them (breaking npm-cli.js's relative requires), so they are
# re-created with ln instead.
FROM ${CUDA_IMAGE} AS gpu
COPY --from=node-dist /usr/local/bin/node /usr/local/bin/node
COPY --from=node-dist /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && mkdir -p /data && chown node:node /data

WORKDIR /app
# Downloads onnxruntime's CUDA 12 execution provider add-on at install time (needs the network).
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && npm cache clean --force

# Optional native TF.js backend for tfjs-graph backbones (the head trains on ONNX Runtime). The server
# tries @tensorflow/tfjs-node-gpu first and falls back (tfjs-node, wasm, cpu) when it is missing or fails
# to load, so a failed install is only reported, never fatal. Note: tfjs-node-gpu 4.x bundles TensorFlow
# 2.9, built for CUDA 11/cuDNN 8; on this CUDA 12 image it finds no CUDA 11 libraries and runs on the CPU,
# which is still faster than wasm. The frozen backbone (the heavy part) runs on the GPU through
# onnxruntime's CUDA provider either way. Build with --build-arg WITH_TFJS_NODE_GPU=0 to leave it out.
ARG WITH_TFJS_NODE_GPU=1
RUN if [ "$WITH_TFJS_NODE_GPU" = "1" ]; then \
      tfjs_version="$(node -p 'require("@tensorflow/tfjs/package.json").version')"; \
      if npm install --no-save --no-audit --no-fund "@tensorflow/tfjs-node-gpu@${tfjs_version}"; then \
        echo "installed @tensorflow/tfjs-node-gpu@${tfjs_version}"; \
      else \
        echo "WARNING: @tensorflow/tfjs-node-gpu could not be installed; the head will use the wasm backend" >&2; \
        rm -rf node_modules/@tensorflow/tfjs-node-gpu; \
      fi; \
      npm cache clean --force; \
    fi

COPY . .
RUN npm run build:web
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    EXECUTION_PROVIDER=cuda
VOLUME ["/data"]
USER node
EXPOSE 3000
# Meaningful for the API only; compose disables it for the worker services.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["npm", "run", "start:api"]

# ---------------------------------------------------------------------------------------------------
# default: the target of a plain `docker build .` is the last stage: the cpu image. (The classic builder
# builds the gpu stages above it too; name `--target cpu` there.)
FROM cpu AS default
