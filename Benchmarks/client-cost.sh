#!/usr/bin/env bash
# What Fabrik.Client costs the load generator against the generator's own minimal clients (a
# prepared HTTP body or gRPC message sent as it is, the answer read but not parsed), on `simple`
# at concurrency 1 and 32, the server and the load generator on separate CPUs, the two clients
# alternating within every round. Prints each run's throughput and p50/p99 latency, then the
# medians and, per concurrency, the median of the rounds' own Fabrik.Client ÷ own-client ratios.
# Both clients share the connection handler, the payload and the request timeout; what differs
# is the library's work per call (encoding, decoding, timeout, error handling). See load-ab.sh.
#
#   Benchmarks/client-cost.sh [ROUNDS]     (default 3; PROTOCOLS, default "http-binary", any of
#                                            http-binary http-json grpc; CONCURRENCY, default "1 32";
#                                            MEASURE_MS per window, default 3000)
MODEL=simple
ROUNDS=${1:-3}
CONCURRENCY=${CONCURRENCY:-1 32}
declare -A VARIANTS
ORDER=()
PAIRS=()
for protocol in ${PROTOCOLS:-http-binary}; do
    case $protocol in
        http-binary) flags="-i http --http-format binary" ;;
        http-json) flags="-i http --http-format json" ;;
        grpc) flags="-i grpc" ;;
        *) echo "unknown protocol '$protocol' (http-binary, http-json, grpc)" >&2; exit 2 ;;
    esac
    VARIANTS[$protocol/own]="$flags --client own"
    VARIANTS[$protocol/fabrik]="$flags --client fabrik"
    ORDER+=("$protocol/own" "$protocol/fabrik")
    PAIRS+=("$protocol/fabrik:$protocol/own:Fabrik.Client over $protocol")
done
source "$(dirname "$0")/load-ab.sh"
