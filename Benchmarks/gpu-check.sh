#!/usr/bin/env bash
# The GPU check: Fabrik's GPU paths on a GPU host that has no .NET and no network, from a
# self-contained publish of the cuda build (ONNX Runtime GPU; TorchScript stays on the CPU).
#
#   Benchmarks/gpu-check.sh pack      # on a build machine (the SDK, python3-torch/onnx/torchvision)
#   Benchmarks/gpu-check.sh parts     # on the GPU host: stash the parts that arrived, list the missing
#   Benchmarks/gpu-check.sh run       # on the GPU host, once all have: the check, results in $OUT
#   Benchmarks/gpu-check.sh variants  # anywhere: the model variants a run would serve, and their config
#
# Parts are stashed outside the repository (GPU_CHECK_STASH, default /tmp/fabrik-gpu-check):
# what one command carries into the repository may be gone by the next, so `parts` copies each
# arrived part (checked against SHA256SUMS) to the stash, and `run` stashes the last one and
# unpacks everything from there. The payload holds the published app, ResNet-50's graph, the
# sample models and a Fabrik.slnx marker beside app/, so the Gpu tests find the sample models from
# the published app wherever the stash is.
#
# What `run` does, in order, stopping at the first thing that is not there:
#   1. a GPU (nvidia-smi lists one), every part of the carry with its checksum, and the CUDA 13
#      libraries in the host's Python torch install; nothing is unpacked before all three hold;
#   2. `fabrik devices`;
#   3. the Gpu test category (Fabrik.Tests --category Gpu: outputs on the GPU against the stored
#      samples through the pipeline, one and two staged instances, warm-up, CUDA graphs, KIND_GPU
#      TorchScript refused with its reason, placement through NVML, CUDA shared memory from another
#      process's device memory and the load generator's --shared-memory cuda); left out by QUICK=1
#      unless TESTS=1;
#   4. one server with cnn and resnet50 in every variant (VARIANTS, below); its placement checked
#      from outside with nvidia-smi: the server's memory is on the GPU its instance groups name
#      (the last one) and nowhere else;
#   5. throughput at concurrency 64 (and 1, unless QUICK=1) with the load generator, ONNX Runtime in
#      process on the GPU (one and two sessions) and the CPU, the server's /metrics after the runs
#      (executed batch sizes), and $OUT/summary.md with the ratios against their goals (batching on
#      ÷ off ≥ 4 on cnn at concurrency 64; served ÷ in process ≥ 0.9) and each variant against
#      gpu_on (the pipeline at its default depth, one instance).
#
# Variants (VARIANTS, default: all below except the cpu_* ones in QUICK mode):
#   gpu_on        dynamic batching, one GPU instance, the pipeline at its default depth (2)
#   gpu_off       no dynamic batching
#   gpu_on2       two GPU instances
#   gpu_on_d1     pipeline_depth 1: gather, run, scatter in turn (the path before the pipeline)
#   gpu_on_d3     pipeline_depth 3
#   gpu_on_heur   cudnn_conv_algo_search 1 (HEURISTIC; ONNX Runtime's default is EXHAUSTIVE)
#   gpu_on_arena  arena_extend_strategy 1 (kSameAsRequested)
#   gpu_on_graph  enable_cuda_graph 1 (a graph per staging set and batch size)
#   gpu_on_warm   model_warmup for every batch size 1 to max_batch_size
#   cpu_on, cpu_off   the CPU, batching on and off
#
# The carry (what travels to the GPU host is limited to 64 MiB per command). The publish is about
# 500 MB, most of it ONNX Runtime's CUDA provider (libonnxruntime_providers_cuda.so, 284 MB). It
# is cut down three ways:
#   - CUDA itself (cudart, cuBLAS, cuRAND, cuDNN, cuFFT) is not carried: the host's Python torch
#     (cu13 wheels) has it under site-packages/nvidia, and LD_LIBRARY_PATH points there;
#   - libtorch is left out: in this build TorchScript runs on the CPU, and the check serves ONNX
#     models only (the one TorchScript test on the GPU expects the load to be refused before
#     libtorch is touched);
#   - ResNet-50's 100 MB of random weights are not carried: weights.json says where each tensor
#     lies, and the host refills model.onnx.data with seeded He-normal values (torch); the
#     performance of dense kernels does not depend on the values;
# and the rest is packed with xz and split into parts of at most 60 MiB (artifacts/gpu-check/carry),
# each carried by one command, with SHA256SUMS carried every time. Parts accumulate on the host
# between commands; `run` travels with the last part and refuses to start until all are there.
#
# Settings (environment): OUT (results; default artifacts/gpu-check/out), PYTHON (the Python with
# torch, default: the first of python3, python on PATH that imports it), SECONDS_PER_STEP (load
# generator window in ms, default 2000), VARIANTS (above), QUICK=1 (the A/B that matters in under
# 4 minutes: gpu_on against gpu_on_d1 on cnn and resnet50 at concurrency 64, in-process runs of 5 s,
# no Gpu tests), TESTS=1 (the Gpu tests even in QUICK mode), WARMUP=1 (every variant warms up every
# batch size from 1 to max_batch_size before it is READY, as gpu_on_warm alone does otherwise),
# SIX_MODELS=1 (five more warmed-up copies of resnet50 on the GPU in the same server, loaded but not
# measured: the six-model case), METRICS=0 (the server without /metrics and NVML sampling; batch
# sizes are then not reported), SERVER_FLAGS (extra server flags), GPU_CHECK_STASH (above),
# GPU_CHECK_CPU_DRY_RUN=1 (run steps 2-5 on the CPU only, to check this script and the publish on a
# machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/artifacts/gpu-check
CARRY=$WORK/carry
STASH=${GPU_CHECK_STASH:-/tmp/fabrik-gpu-check}
HOST=$STASH/host
PART_BYTES=$((60 * 1024 * 1024))
WINDOW_MS=${SECONDS_PER_STEP:-2000}
DRY_RUN=${GPU_CHECK_CPU_DRY_RUN:-0}
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    VARIANTS=${VARIANTS:-gpu_on gpu_on_d1}
    CONCURRENCIES="64"
    INPROCESS_SECONDS=5
    TESTS=${TESTS:-0}
else
    VARIANTS=${VARIANTS:-gpu_on gpu_off gpu_on2 gpu_on_d1 gpu_on_d3 gpu_on_heur gpu_on_arena gpu_on_graph gpu_on_warm cpu_on cpu_off}
    CONCURRENCIES="1 64"
    INPROCESS_SECONDS=10
    TESTS=${TESTS:-1}
fi
WARMUP=${WARMUP:-0}
SIX_MODELS=${SIX_MODELS:-0}
METRICS=${METRICS:-1}

fail() { echo "gpu-check: $*" >&2; exit 2; }

pack() {
    command -v dotnet >/dev/null || fail "pack needs the .NET SDK"
    rm -rf "$WORK/app" "$WORK/payload" "$CARRY" && mkdir -p "$WORK/payload" "$CARRY"
    local project
    for project in Runtime/Runtime.csproj Benchmarks/Fabrik.Benchmarks.csproj Tests/Tests.csproj; do
        dotnet publish "$project" -c Release -r linux-x64 --self-contained -p:Accelerator=cuda \
            -p:RestoreLockedMode=true --artifacts-path "$WORK/build" -o "$WORK/payload/app"
    done
    # libtorch: the CPU build of it, unused on this host (see the header).
    find "$WORK/payload/app" -maxdepth 1 \( -name 'libtorch*' -o -name 'libc10*' -o -name 'libLibTorchSharp*' \
        -o -name 'libgomp*' -o -name 'libshm*' -o -name 'libbackend_with_compiler*' -o -name 'libjitbackend*' \) -delete
    local resnet=$ROOT/artifacts/models/resnet50
    if [[ ! -f $resnet/weights.json ]]; then
        /usr/bin/python3 models/generate.py --resnet50
    fi
    mkdir -p "$WORK/payload/resnet50/1"
    cp "$resnet/config.pbtxt" "$resnet/weights.json" "$WORK/payload/resnet50/"
    cp "$resnet/1/model.onnx" "$WORK/payload/resnet50/1/"
    # The sample models and a Fabrik.slnx marker beside app/: the Gpu tests look for the
    # repository above the published app, and find this layout wherever it is unpacked.
    mkdir -p "$WORK/payload/models"
    for model in cnn mlp mlp_torch simple strings identity; do cp -r "models/$model" "$WORK/payload/models/"; done
    cp Fabrik.slnx "$WORK/payload/"
    git rev-parse HEAD > "$WORK/payload/COMMIT"
    tar -C "$WORK/payload" -cf - . | xz -T0 -9 > "$WORK/payload.tar.xz"
    split -b "$PART_BYTES" -d -a 2 "$WORK/payload.tar.xz" "$CARRY/part-"
    rm "$WORK/payload.tar.xz"
    (cd "$CARRY" && sha256sum part-* > SHA256SUMS)
    local parts=("$CARRY"/part-*) i=0
    echo "gpu-check: ${#parts[@]} part(s) in $CARRY ($(du -sh "$CARRY" | cut -f1)); carry them one per command:"
    for part in "${parts[@]}"; do
        i=$((i + 1))
        local rel=${part#"$ROOT"/}
        if (( i < ${#parts[@]} )); then
            echo "  command $i: carry [$rel, artifacts/gpu-check/carry/SHA256SUMS], run: Benchmarks/gpu-check.sh parts"
        else
            echo "  command $i: carry [$rel, artifacts/gpu-check/carry/SHA256SUMS], run: Benchmarks/gpu-check.sh run"
        fi
    done
}

# Stashes the parts that have arrived (each checked against SHA256SUMS) outside the repository and
# lists which are in the stash. Returns 1 when any is missing.
parts() {
    local stash=$STASH/carry name sum
    mkdir -p "$stash"
    if [[ -f $CARRY/SHA256SUMS ]]; then
        if [[ -f $stash/SHA256SUMS ]] && ! cmp -s "$CARRY/SHA256SUMS" "$stash/SHA256SUMS"; then
            echo "gpu-check: SHA256SUMS changed (a new pack): the stashed parts are dropped" >&2
            rm -f "$stash"/part-*
        fi
        cp "$CARRY/SHA256SUMS" "$stash/SHA256SUMS"
    fi
    [[ -f $stash/SHA256SUMS ]] || { echo "gpu-check: SHA256SUMS is neither in $CARRY nor stashed in $stash (carry it with every part)" >&2; return 1; }
    while read -r sum name; do
        if [[ -f $CARRY/$name && ! -f $stash/$name ]]; then
            if [[ $(sha256sum "$CARRY/$name" | cut -d' ' -f1) == "$sum" ]]; then
                cp "$CARRY/$name" "$stash/$name.tmp" && mv "$stash/$name.tmp" "$stash/$name"
            else
                echo "gpu-check: $name does not match SHA256SUMS; not stashed" >&2
            fi
        fi
    done < "$stash/SHA256SUMS"
    local missing=0
    while read -r _ name; do
        if [[ -f $stash/$name ]]; then echo "here:    $name"; else echo "missing: $name"; missing=1; fi
    done < "$stash/SHA256SUMS"
    return $missing
}

require_gpu() {
    command -v nvidia-smi >/dev/null || fail "no GPU on this host: nvidia-smi is not installed (no NVIDIA driver). Nothing was run."
    local gpus
    gpus=$(nvidia-smi -L 2>&1) || fail "no GPU on this host: nvidia-smi failed: $gpus. Nothing was run."
    grep -q '^GPU ' <<<"$gpus" || fail "no GPU on this host: nvidia-smi lists none. Nothing was run."
    echo "$gpus"
}

# LD_LIBRARY_PATH for ONNX Runtime's CUDA provider, from the CUDA 13 wheels of the host's torch.
cuda_libraries() {
    local python site
    for python in ${PYTHON:-} python3 python; do
        site=$("$python" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null) && break
        site=
    done
    [[ -n $site && -d $site/nvidia ]] || fail "no Python torch with CUDA wheels (site-packages/nvidia) found; set PYTHON. Nothing was run."
    PYTHON_WITH_TORCH=$python
    local dirs needed lib missing=()
    dirs=$(find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
    for needed in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do
        lib=$(find "$site/nvidia" -name "$needed" -print -quit)
        [[ -n $lib ]] || missing+=("$needed")
    done
    (( ${#missing[@]} == 0 )) || fail "the host's torch install lacks ${missing[*]} (ONNX Runtime GPU 1.31 needs CUDA 13 and cuDNN 9). Nothing was run."
    export LD_LIBRARY_PATH=$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

unpack() {
    rm -rf "$HOST" && mkdir -p "$HOST"
    cat "$STASH/carry"/part-* | xz -d | tar -C "$HOST" -xf -
    APP=$HOST/app
    local unresolved
    unresolved=$(ldd "$APP/libonnxruntime_providers_cuda.so" | grep 'not found' || true)
    [[ -z $unresolved || $DRY_RUN == 1 ]] || fail "ONNX Runtime's CUDA provider cannot resolve: $unresolved"
}

# ResNet-50's weights, refilled on this host from weights.json (seeded; He-normal by fan-in).
refill_resnet() {
    "$PYTHON_WITH_TORCH" - "$HOST/resnet50" <<'PY'
import json, os, sys, torch
folder = sys.argv[1]
document = json.load(open(os.path.join(folder, "weights.json")))
generator = torch.Generator().manual_seed(20261125)
with open(os.path.join(folder, document["file"]), "wb") as data:
    data.truncate(max(t["offset"] + t["length"] for t in document["tensors"]))
    for tensor in document["tensors"]:
        values = torch.randn(tensor["length"] // 4, generator=generator) * (2.0 / tensor["fan_in"]) ** 0.5
        data.seek(tensor["offset"])
        data.write(values.to(torch.float32).numpy().tobytes())
PY
}

# model_warmup entries for every batch size of a model with one FP32 input, from its config.pbtxt.
warmup() {
    local max name dims batch
    max=$(awk '/^max_batch_size:/ { print $2 }' "$1")
    name=$(awk -F'"' '/^ *name:/ && ++n == 2 { print $2 }' "$1")
    dims=$(awk '/dims:/ && !found { sub(/.*dims: */, ""); print; found = 1 }' "$1")
    for batch in $(seq 1 "$max"); do
        echo "model_warmup [ { name: \"batch_$batch\" batch_size: $batch inputs { key: \"$name\" value: { data_type: TYPE_FP32 dims: $dims zero_data: true } } } ]"
    done
}

# Whether a variant is measured here: named in VARIANTS, and not a GPU one in a CPU dry run.
wanted() { [[ " $VARIANTS " == *" $1 "* ]] && ! [[ $DRY_RUN == 1 && $1 == gpu_* ]]; }

# The config.pbtxt lines a variant adds to its model's (the model's config.pbtxt is $2).
variant_config() {
    local variant=$1 gpu=$2 config=$3
    parameter() { echo "parameters { key: \"$1\" value: { string_value: \"$2\" } }"; }
    case $variant in
        gpu_on2) echo "instance_group [ { count: 2, kind: KIND_GPU, gpus: [ $gpu ] } ]" ;;
        gpu_*) echo "instance_group [ { kind: KIND_GPU, gpus: [ $gpu ] } ]" ;;
        cpu_*) echo "instance_group [ { kind: KIND_CPU } ]" ;;
    esac
    [[ $variant == *_on* ]] && echo "dynamic_batching { }"
    case $variant in
        *_d1) parameter pipeline_depth 1 ;;
        *_d3) parameter pipeline_depth 3 ;;
        *_heur) parameter cudnn_conv_algo_search 1 ;;
        *_arena) parameter arena_extend_strategy 1 ;;
        *_graph) parameter enable_cuda_graph 1 ;;
    esac
    if [[ $WARMUP == 1 || $variant == *_warm ]]; then warmup "$config"; fi
}

# A model repository: <model>_<variant> for every wanted variant (see the header), and with
# SIX_MODELS=1 five more warmed-up copies of resnet50 on the GPU.
make_repository() {
    local gpu=$1 repository=$HOST/repository model variant source
    rm -rf "$repository" && mkdir -p "$repository"
    for model in cnn resnet50; do
        source=$HOST/models/$model
        [[ $model == resnet50 ]] && source=$HOST/resnet50
        for variant in $VARIANTS; do
            wanted "$variant" || continue
            add_model "$repository" "$source" "$model" "${model}_$variant" "$(variant_config "$variant" "$gpu" "$source/config.pbtxt")"
        done
    done
    if [[ $SIX_MODELS == 1 && $DRY_RUN != 1 ]]; then
        for copy in 1 2 3 4 5; do
            add_model "$repository" "$HOST/resnet50" resnet50 "resnet50_extra$copy" \
                "$(WARMUP=1 variant_config gpu_on "$gpu" "$HOST/resnet50/config.pbtxt")"
        done
    fi
    echo "$repository"
}

# Copies model $3 from folder $2 into repository $1 as $4 with the config lines $5 appended.
add_model() {
    mkdir -p "$1/$4/1"
    cp "$2/1/"* "$1/$4/1/" # copies: links out of a repository are refused
    sed "s/^name: \"$3\"/name: \"$4\"/" "$2/config.pbtxt" > "$1/$4/config.pbtxt"
    echo "$5" >> "$1/$4/config.pbtxt"
}

# What a run would serve: each wanted variant's config lines (for cnn, on GPU 0).
variants() {
    local variant
    for variant in $VARIANTS; do
        echo "== cnn_$variant"
        variant_config "$variant" 0 models/cnn/config.pbtxt
    done
}

# Images per second from a load-generator CSV (the first step's Inferences/Second).
throughput() { awk -F, 'NR == 2 { print $2 }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
met() { awk -v v="$1" -v bound="$2" 'BEGIN { print (v != "-" && v >= bound) ? "yes" : "**no**" }'; }

run() {
    OUT=${OUT:-$WORK/out}
    mkdir -p "$OUT"
    if [[ $DRY_RUN == 1 ]]; then
        echo "gpu-check: CPU dry run (GPU_CHECK_CPU_DRY_RUN=1): the GPU steps are left out"
        PYTHON_WITH_TORCH=${PYTHON:-/usr/bin/python3}
    else
        require_gpu | tee "$OUT/nvidia-smi-L.txt"
    fi
    parts > "$OUT/parts.txt" || { cat "$OUT/parts.txt"; fail "parts of the carry are missing (see above). Nothing was run."; }
    (cd "$STASH/carry" && sha256sum --quiet -c SHA256SUMS) || fail "a part of the carry does not match SHA256SUMS. Nothing was run."
    [[ $DRY_RUN == 1 ]] || cuda_libraries
    unpack
    refill_resnet
    echo "commit $(cat "$HOST/COMMIT")" | tee "$OUT/run.txt"
    { date -u; uname -a; nproc; [[ $DRY_RUN == 1 ]] || nvidia-smi; } >> "$OUT/run.txt" 2>&1

    echo "== fabrik devices"
    "$APP/fabrik" devices | tee "$OUT/devices.txt"
    local last=-1 uuid=""
    if [[ $DRY_RUN != 1 ]]; then
        last=$(grep -c '^GPU ' "$OUT/devices.txt") && last=$((last - 1))
        (( last >= 0 )) || fail "fabrik sees no GPU although nvidia-smi does (see $OUT/devices.txt)"
        uuid=$(grep "^GPU $last[ :]" "$OUT/devices.txt" | grep -o 'GPU-[0-9a-f-]*' | head -1)
    fi
    LAST_GPU=$last

    if [[ $TESTS == 1 ]]; then
        echo "== Gpu test category"
        local tests=0
        (cd "$APP" && ./Fabrik.Tests --category Gpu) 2>&1 | tee "$OUT/gpu-tests.txt" || tests=$?
        # 3: every test skipped, which is what a CPU dry run expects.
        [[ $tests == 0 || ($DRY_RUN == 1 && $tests == 3) ]] || echo "gpu-check: the Gpu tests failed ($tests); going on with the measurements" >&2
    fi

    echo "== server"
    local repository port=8000
    repository=$(make_repository "$last")
    local metrics_flags=(--metrics-port 8002)
    [[ $METRICS == 1 ]] || metrics_flags=(--allow-metrics=false --allow-gpu-metrics=false)
    "$APP/fabrik" --model-repository "$repository" --http-port $port --allow-grpc=false "${metrics_flags[@]}" ${SERVER_FLAGS:-} \
        > "$OUT/server.log" 2>&1 &
    local server=$!
    trap 'kill -TERM $server 2>/dev/null || true' EXIT
    local ready=0
    for _ in $(seq 1 240); do
        if "$APP/fabrik" probe "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1; then ready=1; break; fi
        kill -0 $server 2>/dev/null || break
        sleep 0.5
    done
    (( ready )) || { tail -20 "$OUT/server.log" >&2; fail "the server did not become ready (see $OUT/server.log)"; }

    local load=("$APP/Fabrik.Benchmarks" load -u "localhost:$port" -p "$WINDOW_MS" -r 6)
    local model variant concurrency
    for model in cnn resnet50; do
        for variant in $VARIANTS; do
            wanted "$variant" || continue
            for concurrency in $CONCURRENCIES; do
                echo "== ${model}_$variant concurrency $concurrency"
                local before
                before=$(batch_totals "${model}_$variant")
                "${load[@]}" -m "${model}_$variant" --concurrency-range $concurrency -f "$OUT/${model}_$variant-c$concurrency.csv" > "$OUT/${model}_$variant-c$concurrency.log" 2>&1 \
                    || { tail -5 "$OUT/${model}_$variant-c$concurrency.log" >&2; echo "gpu-check: load on ${model}_$variant had errors (see server.log); going on" >&2; }
                tail -1 "$OUT/${model}_$variant-c$concurrency.log"
                echo "${model}_$variant-c$concurrency $before $(batch_totals "${model}_$variant")" >> "$OUT/batches.txt"
            done
        done
    done

    [[ $METRICS != 1 ]] || scrape > "$OUT/metrics.txt" || echo "gpu-check: /metrics could not be read" >&2
    if [[ $DRY_RUN != 1 ]]; then
        echo "== placement (nvidia-smi): the server's memory must be on GPU $last ($uuid) only"
        nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader | tee "$OUT/placement.csv"
        local on elsewhere
        on=$(awk -F', ' -v pid=$server -v uuid="$uuid" '$1 == pid && $2 == uuid' "$OUT/placement.csv" | wc -l)
        elsewhere=$(awk -F', ' -v pid=$server -v uuid="$uuid" '$1 == pid && $2 != uuid' "$OUT/placement.csv" | wc -l)
        PLACEMENT="$( ((on == 1 && elsewhere == 0)) && echo yes || echo "**no** (on $uuid: $on, elsewhere: $elsewhere)")"
    fi
    kill -TERM $server && wait $server || true
    trap - EXIT

    echo "== ONNX Runtime in process"
    local max
    for model in cnn resnet50; do
        local path=$HOST/models/$model/1/model.onnx
        [[ $model == resnet50 ]] && path=$HOST/resnet50/1/model.onnx
        max=$(awk '/^max_batch_size:/ { print $2 }' "$(dirname "$(dirname "$path")")/config.pbtxt")
        if [[ $DRY_RUN != 1 ]]; then
            "$APP/Fabrik.Benchmarks" inprocess --model "$path" --batch "$max" --gpu "$last" --seconds "$INPROCESS_SECONDS" | tee "$OUT/${model}_inprocess_gpu.txt"
            ! wanted gpu_on2 || "$APP/Fabrik.Benchmarks" inprocess --model "$path" --batch "$max" --gpu "$last" --sessions 2 --seconds "$INPROCESS_SECONDS" | tee "$OUT/${model}_inprocess_gpu2.txt"
        fi
        ! wanted cpu_on || "$APP/Fabrik.Benchmarks" inprocess --model "$path" --batch "$max" --sessions 2 --seconds "$INPROCESS_SECONDS" | tee "$OUT/${model}_inprocess_cpu.txt"
    done

    summary > "$OUT/summary.md"
    cat "$OUT/summary.md"
}

summary() {
    inprocess() { [[ -f $OUT/$1 ]] && grep -o '[0-9.]* images/s' "$OUT/$1" | cut -d' ' -f1 || echo "-"; }
    served() { [[ -f $OUT/$1-c64.csv ]] && throughput "$OUT/$1-c64.csv" || echo "-"; }
    row() { echo "| $1 | $2 | $3 | $([[ $3 == - ]] && echo - || met "$2" "${3#≥ }") |"; }
    echo "# GPU check"
    echo
    echo "Commit $(cat "$HOST/COMMIT"), $(date -u '+%Y-%m-%d %H:%M') UTC. Host and GPU: run.txt, devices.txt. Load generator: HTTP binary, windows of $WINDOW_MS ms. Variants: $VARIANTS. QUICK=$QUICK WARMUP=$WARMUP SIX_MODELS=$SIX_MODELS METRICS=$METRICS."
    echo
    echo "| Ratio | Measured | Goal | Met |"
    echo "|---|---:|---|---|"
    local model goal
    for model in cnn resnet50; do
        goal=-; [[ $model == cnn ]] && goal="≥ 4"
        if [[ $DRY_RUN != 1 ]]; then
            wanted gpu_off && row "\`$model\` on the GPU, batching on ÷ off, concurrency 64" "$(ratio "$(served "${model}_gpu_on")" "$(served "${model}_gpu_off")")" "$goal"
            row "\`$model\` on the GPU, served (batching on, 1 instance, c64) ÷ ONNX Runtime in process (1 session, max batch)" \
                "$(ratio "$(served "${model}_gpu_on")" "$(inprocess "${model}_inprocess_gpu.txt")")" "≥ 0.9"
            if wanted gpu_on2; then
                row "\`$model\` on the GPU, served (batching on, 2 instances, c64) ÷ ONNX Runtime in process (1 session, max batch)" \
                    "$(ratio "$(served "${model}_gpu_on2")" "$(inprocess "${model}_inprocess_gpu.txt")")" "≥ 0.9"
                row "\`$model\` on the GPU, served (batching on, 2 instances, c64) ÷ ONNX Runtime in process (2 sessions, max batch)" \
                    "$(ratio "$(served "${model}_gpu_on2")" "$(inprocess "${model}_inprocess_gpu2.txt")")" "≥ 0.9"
            fi
            wanted cpu_on && row "\`$model\` served, GPU ÷ CPU, batching on, concurrency 64" "$(ratio "$(served "${model}_gpu_on")" "$(served "${model}_cpu_on")")" -
            local variant
            for variant in gpu_on_d1 gpu_on_d3 gpu_on_heur gpu_on_arena gpu_on_graph gpu_on_warm; do
                wanted "$variant" && row "\`$model\` on the GPU, c64: gpu_on (pipeline, depth 2) ÷ $variant" "$(ratio "$(served "${model}_gpu_on")" "$(served "${model}_$variant")")" -
            done
        fi
        if wanted cpu_on && wanted cpu_off; then
            row "\`$model\` on the CPU, batching on ÷ off, concurrency 64" "$(ratio "$(served "${model}_cpu_on")" "$(served "${model}_cpu_off")")" -
            row "\`$model\` on the CPU, served (batching on, c64) ÷ ONNX Runtime in process (max batch, 2 sessions)" \
                "$(ratio "$(served "${model}_cpu_on")" "$(inprocess "${model}_inprocess_cpu.txt")")" "≥ 0.9"
        fi
    done
    [[ $DRY_RUN == 1 ]] || { echo; echo "Placement through nvidia-smi (the server's memory on GPU $LAST_GPU only, the GPU its instance groups name): ${PLACEMENT:-not checked}"; }
    echo
    echo "| Run | Infer/s | p50 µs | p99 µs | queue µs | compute infer µs | mean executed batch | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    local csv run name
    for csv in "$OUT"/*-c*.csv; do
        run=$(basename "$csv" .csv)
        awk -F, -v run="$run" -v batch="$(mean_batch "$run")" \
            'NR == 2 { printf "| %s | %.1f | %.0f | %.0f | %.0f | %.0f | %s | %s |\n", run, $2, $7, $10, $3, $5, batch, $12 }' "$csv"
    done
    echo
    echo "The mean executed batch: fabrik_inference_batch_size from the server's /metrics, before and after each run."
    echo
    echo "Gpu tests: $(tail -1 "$OUT/gpu-tests.txt" 2>/dev/null || echo 'not run')"
}

# The server's metrics (Prometheus text), through the host's Python (the host has no curl for certain).
scrape() {
    "$PYTHON_WITH_TORCH" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:8002/metrics").read().decode())'
}

# "sum count" of a model's executed batch sizes so far.
batch_totals() {
    scrape 2>/dev/null | awk -v model="$1" '
        $1 ~ /^fabrik_inference_batch_size_(sum|count)\{/ && index($1, "model=\"" model "\"") { if ($1 ~ /_sum\{/) sum += $2; else count += $2 }
        END { printf "%d %d", sum, count }'
}

# The mean executed batch size during one run, from the totals before and after it.
mean_batch() {
    [[ -f $OUT/batches.txt ]] || { echo "-"; return; }
    awk -v run="$1" '$1 == run { if ($5 > $3) printf "%.1f", ($4 - $2) / ($5 - $3); else print "-"; found = 1 } END { if (!found) print "-" }' "$OUT/batches.txt"
}

case "${1:-}" in
    pack) pack ;;
    parts) parts ;;
    run) run ;;
    variants) variants ;;
    *) echo "usage: $0 pack | parts | run | variants   (see the header of this script)" >&2; exit 2 ;;
esac
