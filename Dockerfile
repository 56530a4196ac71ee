# syntax=docker/dockerfile:1
# GPU image: Fabrik built with -p:Accelerator=cuda (ONNX Runtime GPU + TorchSharp CUDA) on a
# CUDA 13 + cuDNN 9 runtime, because ONNX Runtime GPU 1.31 links libcudart.so.13 and cuDNN 9.
# libtorch (TorchSharp-cuda-linux) carries its own CUDA 12.8 libraries; both need a driver that
# supports CUDA 13.
#
#   docker build -t fabrik .
#   docker run --gpus all -p 8000:8000 -p 8001:8001 -p 8002:8002 -v "$PWD/models:/models:ro" fabrik

ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish Runtime/Runtime.csproj -c Release -r linux-x64 --self-contained true \
        -p:Accelerator=cuda -o /opt/fabrik

FROM ${CUDA_RUNTIME_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin fabrik
COPY --from=build /opt/fabrik /opt/fabrik
USER 10001
VOLUME ["/models"]
EXPOSE 8000 8001 8002
# Inside the container the listeners bind to all interfaces; publish ports deliberately.
ENTRYPOINT ["/opt/fabrik/fabrik", "--model-repository=/models", \
            "--http-address=0.0.0.0", "--grpc-address=0.0.0.0", "--metrics-address=0.0.0.0"]
