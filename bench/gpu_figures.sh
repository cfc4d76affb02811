#!/usr/bin/env bash
# The README's GPU figures in one run, from the repository root (over 10 minutes on one H200: each
# of the 12 transformer processes took 30 s or more to start there):
#
#     bash bench/gpu_figures.sh [VIDEOS_DIR]          # default ../shared/data/videos
#
# 1. embedding: the matmul ceiling, the ViT-B/32 encoder alone at large batch sizes, and the whole
#    embed path (decode + preprocess in worker threads, overlapped with the encoder) with 1 to 16
#    decoding threads, in float32 (TF32 matmuls: JAX's default precision on the GPU) and in
#    mixed_bfloat16; the stage times say whether decoding or the encoder bounds it;
# 2. the transformer's training step against the original PyTorch head on CUDA, each variant in
#    its own process, alternating rounds (bench/transformer_step_processes.py).
#
# Needs the project's packages and a CUDA build of JAX (and of PyTorch for step 2) in $PYTHON
# (default python3). The shared clips are short, so --repeat 8 passes over them.
set -euo pipefail
VIDEOS=${1:-../shared/data/videos}
PYTHON=${PYTHON:-python3}
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
"$PYTHON" -c "import jax, keras, tensorflow as tf; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'tf', tf.__version__)"
date -u +%FT%TZ

for policy in float32 mixed_bfloat16; do
    "$PYTHON" bench/embed_throughput.py --videos "$VIDEOS" --repeat 8 --matmul-size 8192 \
        --batch-sizes 32,128,512 --encoder-frames 2048 --workers 1,4,8,16 --dtype-policy "$policy"
done

"$PYTHON" bench/transformer_step_processes.py --rounds 3 --steps 100 --torch-device cuda \
    --variants torch torch:tf32 keras:philox4x32 keras:philox4x32:1:step
date -u +%FT%TZ
