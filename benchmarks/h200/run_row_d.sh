#!/usr/bin/env bash
# Issue 17 row D on the device: parallel agent workspaces at N = 1, 8, 32 through the app's whole
# path and the real GPU model (dummy weights: the scripted policy still fills the form; every step
# is first sent to vLLM with 64 tokens decoded, ignore_eos). From the repo root, on a machine where
# the vLLM payload is already installed (run_rows.sh's earlier calls), carrying .gpu/common,
# .gpu/appcode (must hold tests/support: `git archive HEAD qwen3vl_agent benchmarks tests/support`),
# .gpu/app and the row-D payload .gpu/d1 (benchmarks/h200/prepare_row_d.sh):
#     LIMIT=570 bash .gpu/appcode/benchmarks/h200/run_row_d.sh .gpu/d1
# Installs the payload into /root/xroot + /root/dsite once, then runs run_rows.sh with SITTING=D:
# steps d_w1, d_w8, d_w32 on the engine ROW_D_SERVER (default r3 = replicas auto), each writing
# /root/res/d_wN.json (+ .sys.json: GPU utilisation and process CPU each second). Re-runnable.
# A lever at N = 32 next to them: ROW_D_SERVER=<configuration> D_TAG=_<name> (d_w32_<name>); the
# next sitting's, after the one-replica sitting of 2026-12-06 (docs/benchmarks.md, row D):
#     ROW_D_SERVER=r3 D_TAG=_r3 ...   then   ROW_D_SERVER=r1_api4 D_TAG=_api4 ...
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PAYLOAD=${1:-.gpu/d1}
if [ ! -f /root/xroot/.row_d_done ]; then
  bash "$PAYLOAD/install_row_d.sh" "$PAYLOAD" || { echo "row D payload install failed"; exit 1; }
  touch /root/xroot/.row_d_done
fi
# the carried code ($HERE/../..: .gpu/appcode) must hold the forward mode and the Qt form; a warm
# machine's /root/appcode (copied by an earlier call) gets this copy's benchmarks/ and tests/support
# (the product code qwen3vl_agent/ stays what the sitting ran, unless it has no workspaces yet)
SRC=$(cd "$HERE/../.." && pwd)
[ -d "$SRC/tests/support" ] || { echo "$SRC lacks tests/support: rebuild .gpu/appcode with it"; exit 1; }
if [ "$SRC" != /root/appcode ] && [ -d /root/appcode/qwen3vl_agent ]; then
  if [ ! -f /root/appcode/qwen3vl_agent/agents/workspace_lanes.py ] || [ "${REFRESH_APPCODE:-0}" = 1 ]; then
    rm -rf /root/appcode && mkdir -p /root/appcode && cp -r "$SRC/." /root/appcode/
  else
    mkdir -p /root/appcode/tests && cp -r "$SRC/benchmarks" /root/appcode/ && cp -r "$SRC/tests/support" /root/appcode/tests/
  fi
  echo "app code for row D: $(cat /root/appcode/HEAD 2>/dev/null), benchmarks + tests/support from $(cat "$SRC/HEAD" 2>/dev/null)"
fi
SITTING=D exec bash "$HERE/run_rows.sh"
