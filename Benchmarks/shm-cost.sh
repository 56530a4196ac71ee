#!/usr/bin/env bash
# What system shared memory saves against HTTP binary for ResNet-50-sized inputs (FP32
# [1,3,224,224], 602,112 bytes a request) at concurrency 8: `image_pool` (that input reduced to
# its channel means, so the model's run costs next to nothing), the server (with
# --allow-shared-memory=true) and the load generator on separate CPUs of this host. With
# `--shared-memory system` the load generator writes the input once into a region that every
# request names; the server still copies it once per request from the region into its pooled
# buffer (pread), but nothing crosses the socket. Both variants go through Fabrik.Client; outputs
# (12 bytes) come back in the answer. Prints throughput and p50/p99 per run, then the medians and
# the median of the rounds' own shared memory ÷ HTTP binary ratios. See load-ab.sh.
#
#   Benchmarks/shm-cost.sh [ROUNDS]     (default 3; PROTOCOLS, default "http", or "http grpc" for
#                                         the same over gRPC; CONCURRENCY, default 8; MEASURE_MS
#                                         per window, default 3000; SHM_KIND, default system, or
#                                         cuda on a GPU host: the input in device memory on CUDA
#                                         device 0, registered by its IPC handle)
MODEL=image_pool
ROUNDS=${1:-3}
SHM_KIND=${SHM_KIND:-system}
[[ $SHM_KIND == system || $SHM_KIND == cuda ]] || { echo "SHM_KIND is system or cuda, not '$SHM_KIND'" >&2; exit 2; }
CONCURRENCY=${CONCURRENCY:-8}
SERVER_FLAGS=--allow-shared-memory=true
declare -A VARIANTS
ORDER=()
PAIRS=()
for protocol in ${PROTOCOLS:-http}; do
    case $protocol in
        http) flags="-i http --http-format binary" ;;
        grpc) flags="-i grpc" ;;
        *) echo "unknown protocol '$protocol' (http, grpc)" >&2; exit 2 ;;
    esac
    VARIANTS[$protocol]="$flags"
    VARIANTS[$protocol-shm]="$flags --shared-memory $SHM_KIND"
    ORDER+=("$protocol" "$protocol-shm")
    PAIRS+=("$protocol-shm:$protocol:$SHM_KIND shared memory ÷ ${protocol/http/HTTP binary}")
done
source "$(dirname "$0")/load-ab.sh"
