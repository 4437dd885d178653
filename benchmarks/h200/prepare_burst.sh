#!/usr/bin/env bash
# Issue 17: everything a GPU sitting carries, prepared offline (no device time) in one command, from
# the repo root on the dev box (Debian 12; PyPI and apt reachable):
#     bash benchmarks/h200/prepare_burst.sh            # -> .gpu/ (ignored by git), ~10 min on 2 cores
# It makes
#   .gpu/common, .gpu/p1..p4  vLLM 0.25.0 + the wheels the device lacks (../shared/reference/gpu-vllm/
#                             prepare.sh), with three wheels moved from p3 to p4: every `run` call
#                             carries the working tree too (~4 MiB), and p3 + tree went over 64 MiB
#   .gpu/app                  the app's light dependencies the device image lacks (list below)
#   .gpu/spy                  py-spy (PYSPY=1 in run_rows.sh; its own folder: see run_rows.sh)
#   .gpu/d1                   row D's X server + Qt payload (prepare_row_d.sh)
# The burst (each call right after the previous; the machine is given back after 30 s idle):
#   1 [common p1] stash.sh p1   2 [common p2] stash.sh p2   3 [common p3] stash.sh p3 && install.sh
#   4 [common p4 app] stash.sh p4 && APP_HEAD=<commit> bash benchmarks/h200/run_rows.sh start-only r3
#   5 [common d1 spy] APP_HEAD=<commit> PYSPY=1 ROW_D_SERVER=r3 LIMIT=570 bash benchmarks/h200/run_row_d.sh .gpu/d1
set -euo pipefail
OUT=.gpu
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../../shared/reference/gpu-vllm}
PIP=${PIP:-python3 -m pip}
[ -f "$OUT/p1/vllm.whl.xz.part-0" ] || bash "$SHARED/prepare.sh" "$OUT"
for w in openai_harmony apache_tvm_ffi pydantic_core; do
  for f in "$OUT"/p3/"$w"-*.whl; do [ -e "$f" ] && mv "$f" "$OUT/p4/"; done
done
# The app's imports at start-up that the device image (torch 2.11, transformers 5.17, numpy, pillow,
# httpx, click, rich, tqdm, psutil, prometheus-client, nvidia-ml-py) does not have: a missing one
# fails every step of a sitting (httpx-sse did, 2026-12-06). compressed-tensors + loguru: vLLM's FP8.
APP_WHEELS=(pydantic-settings python-dotenv platformdirs sqlite-utils sqlite-fts4 click-default-group
            imagehash pywavelets tomli-w httpx-sse jeepney compressed-tensors==0.17.0 loguru)
TAGS=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64
      --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 --platform any)
rm -rf "$OUT/app" "$OUT/spy"; mkdir -p "$OUT/app" "$OUT/spy"
$PIP download -q "${TAGS[@]}" -d "$OUT/app" "${APP_WHEELS[@]}"
$PIP download -q "${TAGS[@]}" -d "$OUT/spy" py-spy
[ -f "$OUT/d1/pyside6.tar.xz" ] || PIP=${ROW_D_PIP:-.venv/bin/pip} bash "$HERE/prepare_row_d.sh" "$OUT/d1"
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for call in "common p1" "common p2" "common p3" "common p4 app" "common d1 spy"; do
  size=$tree; for d in $call; do size=$(( size + $(du -sb "$OUT/$d" | cut -f1) )); done
  echo "call carrying [$call] + the working tree: $(( size / 1048576 )) MiB (limit 64)"
  [ $size -lt $(( 64 * 1048576 )) ] || { echo "  too large: move wheels between folders"; exit 1; }
done
