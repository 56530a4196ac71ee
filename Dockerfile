# syntax=docker/dockerfile:1.7
# Fabrik images. Two targets from one file:
#
#   docker build -t fabrik:cpu .                   # cpu, the default (the last stage)
#   docker build --target cuda -t fabrik:cuda .    # CUDA 13 + cuDNN 9 for ONNX Runtime GPU 1.31
#
# The OCI labels take --build-arg VERSION=<x.y.z> REVISION=$(git rev-parse HEAD)
# SOURCE_URL=$(git remote get-url origin).
#
#   docker run --read-only --tmpfs /tmp -p 8000:8000 -p 8001:8001 -p 8002:8002 \
#       -v "$PWD/models:/models:ro" fabrik:cpu
#   docker run --gpus all --read-only --tmpfs /tmp -p 8000-8002:8000-8002 -v "$PWD/models:/models:ro" fabrik:cuda
#
# Both images run as UID 1654 (not root), write nothing outside /tmp (so a read-only root
# filesystem works), carry a CycloneDX SBOM at /opt/fabrik/sbom.cdx.json, and answer their
# HEALTHCHECK with `fabrik probe`, which needs no shell or curl.
#
# Base images are pinned by digest. The digests were taken from public references on 2026-11-26
# and could not be resolved against the registries from the machine that wrote this file; refresh
# them with `docker buildx imagetools inspect <image:tag>` before a release and keep tag and digest
# together. The CUDA digest is the linux/amd64 manifest.
#
# CUDA and TorchSharp: ONNX Runtime GPU 1.31 links libcudart.so.13 and cuDNN 9, which the cuda base
# provides; TorchScript stays on the CPU libtorch. --build-arg TORCHSHARP_CUDA=true adds
# TorchSharp-cuda-linux, libtorch with its own CUDA 12.8 runtime and its own libcudnn.so.9 next to
# it. The CUDA runtimes have different sonames and coexist; cuDNN does not: both stacks ask for
# libcudnn.so.9, and the first one loaded in the process serves both. See the README ("Deploying",
# GPU images) for what is known to run and what to do when it does not.
#
# TorchScript on the GPUs over a host's or a base image's libtorch (PyTorch's torch/lib, an NGC
# PyTorch container, a mounted libtorch): --build-arg BUNDLE_LIBTORCH=false leaves TorchSharp's CPU
# libtorch out, and the container is told where the libtorch is:
#   docker build --target cuda --build-arg BUNDLE_LIBTORCH=false -t fabrik:cuda-libtorch .
#   docker run --gpus all -e LIBTORCH=/opt/libtorch/lib -v /path/to/libtorch:/opt/libtorch:ro ... fabrik:cuda-libtorch
# or, on a PyTorch base image (CUDA_BASE_IMAGE=nvcr.io/nvidia/pytorch:<tag>), -e LIBTORCH_USE_PYTORCH=1.

ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0@sha256:e70cdb7f80b0348f5cb85f19a8f670fca061f033d57eed12fa003d58b0e06317
ARG CPU_BASE_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled@sha256:18d4848091a40d13dbfdd6a8340c1657dc3e2f2d7fa2f042e9d162e68669dbc9
ARG CUDA_BASE_IMAGE=nvidia/cuda:13.0.3-cudnn-runtime-ubuntu24.04@sha256:af851538a2bb05f587f27b660d61de3643d964e75ef5c04f4086ff2b36f2a12a

# ---- build: the SDK and the pinned tools (Cake, CycloneDX); each flavour is then published by the
# same Cake target a bundle uses (self-contained, with sbom.cdx.json). Both restore in locked mode
# (packages.lock.json, packages.cuda.lock.json); with TORCHSHARP_CUDA=true the cuda one writes
# packages.cuda-torch.lock.json as it goes. ----
FROM ${SDK_IMAGE} AS build
WORKDIR /src
COPY . .
RUN dotnet tool restore

FROM build AS publish-cpu
ARG VERSION=0.0.0-dev
RUN dotnet cake --target=Publish --accelerator=cpu --build-version=${VERSION} --artifacts=/artifacts \
    && mv /artifacts/publish/cpu /opt/fabrik

FROM build AS publish-cuda
ARG VERSION=0.0.0-dev
ARG TORCHSHARP_CUDA=false
ARG BUNDLE_LIBTORCH=true
RUN dotnet cake --target=Publish --accelerator=cuda --torchsharp-cuda=${TORCHSHARP_CUDA} --bundle-libtorch=${BUNDLE_LIBTORCH} --build-version=${VERSION} --artifacts=/artifacts \
    && mv /artifacts/publish/cuda /opt/fabrik

# ---- cuda: the CUDA 13 + cuDNN 9 runtime (Ubuntu 24.04) ----
FROM ${CUDA_BASE_IMAGE} AS cuda
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE_URL=unknown
LABEL org.opencontainers.image.title="fabrik" \
      org.opencontainers.image.description="Fabrik inference server (KServe v2 over HTTP and gRPC), CUDA build" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
RUN groupadd --system --gid 1654 app \
    && useradd --system --uid 1654 --gid 1654 --no-create-home --shell /usr/sbin/nologin app
COPY --from=publish-cuda --chown=0:0 /opt/fabrik /opt/fabrik
ENV TMPDIR=/tmp \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
USER 1654:1654
VOLUME ["/models"]
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/opt/fabrik/fabrik", "probe", "http://127.0.0.1:8000/v2/health/ready"]
# Inside the container the listeners bind to all interfaces; publish ports deliberately.
ENTRYPOINT ["/opt/fabrik/fabrik", "--model-repository=/models", \
            "--http-address=0.0.0.0", "--grpc-address=0.0.0.0", "--metrics-address=0.0.0.0"]

# ---- cpu (default): self-contained publish on the distroless runtime-deps base ----
FROM ${CPU_BASE_IMAGE} AS cpu
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE_URL=unknown
LABEL org.opencontainers.image.title="fabrik" \
      org.opencontainers.image.description="Fabrik inference server (KServe v2 over HTTP and gRPC), CPU build" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
COPY --from=publish-cpu --chown=0:0 /opt/fabrik /opt/fabrik
ENV TMPDIR=/tmp
USER 1654:1654
VOLUME ["/models"]
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/opt/fabrik/fabrik", "probe", "http://127.0.0.1:8000/v2/health/ready"]
ENTRYPOINT ["/opt/fabrik/fabrik", "--model-repository=/models", \
            "--http-address=0.0.0.0", "--grpc-address=0.0.0.0", "--metrics-address=0.0.0.0"]
