#!/usr/bin/env bash
# Issue 7's H100 burst, on the device, from the repo root. Re-runnable across `run` calls:
# every step writes /root/res/NAME.json and is skipped once that exists; the vLLM server runs
# under setsid and survives between calls while the machine is warm. Steps are in priority
# order; a step that does not fit in the time left is skipped (and said so).
#   LIMIT=570 PLAN=sitting2 bash benchmarks/h100/run_rows.sh
# PLAN=sitting1: the first burst (vLLM started by this script, 8192 batched tokens, every row and
# the ceiling experiments). PLAN=sitting2: every server is started by the app's own managed engine
# (`qwen3vl-agent engine start --detach`, its default recipe); rows 1-6, with 1b/2/3 run twice.
set -u
T0=$(date +%s); LIMIT=${LIMIT:-570}; PLAN=${PLAN:-sitting2}
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( LIMIT - $(el) )); }
REPO=$(pwd); C=$REPO/.gpu/common; R=/root/res; D=/root/data
mkdir -p $R $D /root/apphome
# the app's code as it was at the first call: later calls re-send the working tree, which other
# work may be changing; every row of the table runs the same code
# (a committed snapshot carried in .gpu/appcode — `git archive HEAD qwen3vl_agent benchmarks` plus a
# HEAD file — is preferred to the working tree, where uncommitted edits may be half done)
if [ ! -d /root/appcode/qwen3vl_agent ]; then
  if [ -d $REPO/.gpu/appcode/qwen3vl_agent ]; then mkdir -p /root/appcode && cp -r $REPO/.gpu/appcode/. /root/appcode/
  else mkdir -p /root/appcode && cp -r $REPO/qwen3vl_agent $REPO/benchmarks /root/appcode/ && git -C $REPO rev-parse HEAD > /root/appcode/HEAD 2>/dev/null; fi
  echo "app code: $(cat /root/appcode/HEAD 2>/dev/null)"
fi
APPROOT=/root/appcode; H=$APPROOT/benchmarks/h100
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
       VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false \
       OPENAI_API_KEY=bench-key
APP_ENV=(env PYTHONPATH=$APPROOT:/root/appsite:/root/site QWEN3VL_AGENT_HOME=/root/apphome)
# the app's managed engine, configured as a user would (env overrides of config.toml)
ENGINE=("${APP_ENV[@]}" QWEN3VL_AGENT_ENGINE__LAUNCHER=python-module QWEN3VL_AGENT_ENGINE__PYTHON_EXECUTABLE=python3
        QWEN3VL_AGENT_ENGINE__MODEL=/root/model QWEN3VL_AGENT_ENGINE__SERVED_MODEL_NAME=qwen3vl4b
        QWEN3VL_AGENT_ENGINE__DTYPE=bfloat16 QWEN3VL_AGENT_ENGINE__API_KEY=bench-key
        'QWEN3VL_AGENT_ENGINE__EXTRA_ARGS=["--load-format","dummy"]' python3 $H/appengine.py)
BASE=(--model /root/model --served-model-name qwen3vl4b --host 127.0.0.1 --port 8000 --load-format dummy
      --dtype bfloat16 --max-model-len 8192 --limit-mm-per-prompt '{"image":1,"video":0}'
      --gpu-memory-utilization 0.85 --enable-chunked-prefill)
declare -A SRV=(
  [s0]="--max-num-batched-tokens 8192"
  [mnbt16k]="--max-num-batched-tokens 16384"
  [mmcache0]="--max-num-batched-tokens 8192 --mm-processor-cache-gb 0"
  [api4]="--max-num-batched-tokens 8192 --api-server-count 4"
  [mnbt32k]="--max-num-batched-tokens 32768"
  # app*: started by the app's managed engine with its defaults plus these flags
  [app]=""
  [app_shm]="--mm-processor-cache-type shm"
  [app_si8]="--stream-interval 8"
)
VB=(python3 -m vllm.entrypoints.cli.main bench serve --backend openai-chat --endpoint /v1/chat/completions
    --host 127.0.0.1 --port 8000 --model /root/model --served-model-name qwen3vl4b --ignore-eos
    --temperature 0 --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90,99
    --save-result --result-dir $R --disable-tqdm --num-warmups 0)
NOISE=(--dataset-name random-mm --random-input-len 256 --random-output-len 64 --random-range-ratio 0
       --random-mm-base-items-per-request 1 --random-mm-num-mm-items-range-ratio 0
       --random-mm-limit-mm-per-prompt '{"image":1,"video":0}' --random-mm-bucket-config '{(1080, 1920, 1): 1.0}')
AB=("${APP_ENV[@]}" python3 $H/appbench.py --endpoint http://127.0.0.1:8000/v1 --model qwen3vl4b --api-key bench-key)

healthy() { python3 $C/wait_health.py 1 >/dev/null 2>&1; }
stop_server() {
  [ -f /root/server.pid ] || return 0
  local old; old=$(cat /root/server.name 2>/dev/null)
  case $old in app*)  # the app's own stop; keep that server's log (the next start rotates it)
    "${ENGINE[@]}" stop --grace 30; cp --remove-destination "$(readlink -f /root/server_$old.log)" /root/server_$old.log
    rm -f /root/server.pid /root/server.name; sleep 3; return 0 ;; esac
  local pid; pid=$(cat /root/server.pid)
  kill -TERM -- -"$pid" 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -KILL -- -"$pid" 2>/dev/null; sleep 3
  rm -f /root/server.pid /root/server.name
}
server() { # NAME: make the server of this configuration the running one, healthy and warmed up
  local name=$1
  if [ "$(cat /root/server.name 2>/dev/null)" != "$name" ] || { ! kill -0 "$(cat /root/server.pid 2>/dev/null)" 2>/dev/null && ! healthy; }; then
    [ "$(left)" -lt 200 ] && { echo "[$(el)s] no time to start server $name"; return 1; }
    stop_server
    echo "[$(el)s] starting server $name: ${SRV[$name]}"
    case $name in
      app*) local extra=(); for a in ${SRV[$name]}; do extra+=("--extra-arg=$a"); done
            ln -sf /root/apphome/logs/vllm-server.log /root/server_$name.log
            setsid nohup "${ENGINE[@]}" start --detach --port 8000 --timeout 1500 "${extra[@]}" \
              > /root/server_$name.cli.log 2>&1 < /dev/null & ;;
      # shellcheck disable=SC2086
      *) setsid nohup env PYTHONPATH=/root/site python3 -m vllm.entrypoints.openai.api_server "${BASE[@]}" ${SRV[$name]} \
           > /root/server_$name.log 2>&1 < /dev/null & ;;
    esac
    echo $! > /root/server.pid; echo "$name" > /root/server.name; date +%s > /root/server.t0
  fi
  if ! healthy; then
    python3 $C/wait_health.py $(( $(left) - 60 )) /root/server.pid /root/server_$name.log || {
      tail -5 /root/server_$name.log /root/server_$name.cli.log 2>/dev/null; return 1; }
    echo "[$(el)s] server $name healthy $(( $(date +%s) - $(cat /root/server.t0) ))s after start"
  fi
  if [ ! -f /root/engine_$name.json ]; then
    case $name in app*)  # the managed engine's own record: its pid (the CLI has returned) and log
      sleep 3; tail -3 /root/server_$name.cli.log
      "${ENGINE[@]}" status --json > /root/engine_$name.json
      python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pid'])" /root/engine_$name.json > /root/server.pid
      cp /root/engine_$name.json $R/ ;;
    esac
  fi
  if [ ! -f $R/server_$name.startup.txt ]; then
    grep -E "Model loading took|KV cache|Maximum concurrency|torch.compile takes|Graph capturing finished|init engine" \
      /root/server_$name.log | cut -c1-240 > $R/server_$name.startup.txt
  fi
  if [ ! -f $R/warm_$name.done ]; then  # unmeasured warm-up: compile paths, CUDA graphs, connections
    "${AB[@]}" --no-cache --budget 1024 --users 16 --count 32 --seed 999 --out /root/warm_$name.json > /root/warm_$name.log 2>&1 \
      && touch $R/warm_$name.done
    echo "[$(el)s] warm-up on $name done (rc=$?)"
  fi
}
dataset() { # NAME COUNT SEED: realistic 1080p screenshots as a custom_image JSONL (same requests as the app bench)
  [ -f $D/$1.jsonl ] || "${APP_ENV[@]}" python3 $APPROOT/benchmarks/export_vllm_dataset.py --count "$2" --seed "$3" \
      --full-res --out $D/$1.jsonl.tmp$$ > /dev/null && mv $D/$1.jsonl.tmp$$ $D/$1.jsonl
}
step() { # NAME NEED_S SERVER KIND ARGS...   KIND: vbn (vllm bench noise), vbr:COUNT:SEED (realistic), ab (app bench)
  local name=$1 need=$2 srv=$3 kind=$4; shift 4
  [ -f $R/$name.json ] && return 0
  [ "$(left)" -lt "$need" ] && { echo "[$(el)s] SKIP $name: needs ${need}s, $(left)s left"; return 0; }
  server "$srv" || { echo "[$(el)s] SKIP $name: server $srv not ready"; return 0; }
  [ "$(left)" -lt "$need" ] && { echo "[$(el)s] SKIP $name: needs ${need}s, $(left)s left"; return 0; }
  local cmd
  case $kind in
    vbn) cmd=("${VB[@]}" "${NOISE[@]}" --result-filename $name.json "$@") ;;
    vbr:*) IFS=: read -r _ cnt sd <<< "$kind"; dataset "ds_$sd" "$cnt" "$sd"
           cmd=("${VB[@]}" --dataset-name custom_image --dataset-path $D/ds_$sd.jsonl --disable-shuffle
                --custom-output-len 64 --num-prompts "$cnt" --result-filename $name.json "$@") ;;
    ab) cmd=("${AB[@]}" --label "$name" --out $R/$name.json "$@") ;;
  esac
  local l0; l0=$(wc -l < /root/server_$srv.log)
  python3 $H/sampler.py $R/$name.sys.json & local smp=$!
  echo "[$(el)s] >> $name"
  PYTHONPATH=/root/site timeout $(( $(left) - 8 )) "${cmd[@]}" > $R/$name.log 2>&1; local rc=$?
  kill $smp; wait $smp 2>/dev/null
  tail -n +"$l0" /root/server_$srv.log | grep -E "Avg prompt throughput" | cut -c1-260 | tail -6 > $R/$name.engine.txt
  [ $rc -ne 0 ] && { echo "   $name rc=$rc"; tail -4 $R/$name.log; }
  [ -f $R/$name.json ] && python3 $H/show.py $R/$name.json
  return 0
}
collect() {
  [ -n "${OUT:-}" ] || return 0
  for f in /root/server_*.log; do [ -f "$f" ] && tail -c 200000 "$f" > $R/"$(basename "$f" .log)".tail.txt; done
  tar czf $OUT/res.tgz -C /root res 2>/dev/null; ls -la $OUT
}
trap collect EXIT

bash $C/install.sh || exit 1
if [ -d $REPO/.gpu/app ] && [ ! -f /root/appsite/.done ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /root/appsite $REPO/.gpu/app/*.whl && touch /root/appsite/.done
fi
[ "${1:-}" = "install-only" ] && exit 0
[ -f /root/datasets.started ] || { touch /root/datasets.started; (cd $APPROOT && setsid nohup bash benchmarks/h100/datasets.sh $PLAN > /root/datasets.log 2>&1 < /dev/null &); }

plan_sitting2() {  # one server, the app's default recipe; 1b, 2 and 3 twice (second round in another order)
  step s2_r1n_c120      150 app vbn --num-prompts 240 --max-concurrency 120 --seed 111
  step s2_r1r_c120      120 app vbr:300:112 --max-concurrency 120
  step s2_r2_c120       110 app ab --no-cache --full-res --users 120 --count 300 --seed 113
  step s2_r3_c120        90 app ab --no-cache --budget 1024 --users 120 --count 480 --seed 114
  step s2_r4_mix_c120    90 app ab --budget 1024 --repeat-mix 0.68,0.22 --users 120 --count 600 --seed 115
  step s2_r5_chat_c1     60 app ab --no-cache --users 1 --count 24 --seed 116
  step s2_r5_agent_c1    70 app ab --no-cache --workload agent --users 1 --count 24 --seed 117 --agent-overhead 24
  step s2_r5_raw_c1      50 app vbr:12:121 --max-concurrency 1
  step s2_r6_sync        60 app ab --baseline sync --full-res --count 24 --seed 118
  step s2_r3_c120_b      90 app ab --no-cache --budget 1024 --users 120 --count 480 --seed 134
  step s2_r2_c120_b     110 app ab --no-cache --full-res --users 120 --count 300 --seed 133
  step s2_r1r_c120_b    120 app vbr:300:132 --max-concurrency 120
  # one more flag at a time on the app's recipe: shared-memory mm cache, coarser streaming
  step s2_x_shm_r3      300 app_shm ab --no-cache --budget 1024 --users 120 --count 480 --seed 144
  step s2_x_shm_r1r     120 app_shm vbr:300:142 --max-concurrency 120
  step s2_x_si8_r3      300 app_si8 ab --no-cache --budget 1024 --users 120 --count 480 --seed 154
  step s2_x_si8_r1r     120 app_si8 vbr:300:152 --max-concurrency 120
}
plan_diag() {  # sitting-1's server (this script's own start, 8192 tokens, 8k context, 1 image) on the same requests
  step s2d_s0_r1r_c120  300 s0 vbr:300:112 --max-concurrency 120
  step s2d_s0_r3_c120    90 s0 ab --no-cache --budget 1024 --users 120 --count 480 --seed 114
  step s2d_s0_r5_raw_c1  50 s0 vbr:12:121 --max-concurrency 1
  # the rest of the table on that same server (this host turned out ~30 % slower than sitting 1's)
  step s2d_s0_r2_c120   110 s0 ab --no-cache --full-res --users 120 --count 300 --seed 113
  step s2d_s0_r5_agent_c1 60 s0 ab --no-cache --workload agent --users 1 --count 24 --seed 117 --agent-overhead 24
  step s2d_s0_r5_chat_c1 40 s0 ab --no-cache --users 1 --count 24 --seed 116
  step s2d_s0_r4_mix_c120 60 s0 ab --budget 1024 --repeat-mix 0.68,0.22 --users 120 --count 600 --seed 115
  step s2d_s0_r6_sync    40 s0 ab --baseline sync --full-res --count 24 --seed 118
  step s2d_s0_r1n_c120  100 s0 vbn --num-prompts 240 --max-concurrency 120 --seed 111
  step s2d_s0_r3_c120_b  60 s0 ab --no-cache --budget 1024 --users 120 --count 480 --seed 134
  step s2d_s0_r2_c120_b  70 s0 ab --no-cache --full-res --users 120 --count 300 --seed 133
  step s2d_s0_r1r_c120_b 80 s0 vbr:300:132 --max-concurrency 120
  step s2d_s0_r2_c120_c  60 s0 ab --no-cache --full-res --users 120 --count 300 --seed 143
  step s2d_s0_r1r_c120_c 80 s0 vbr:300:142 --max-concurrency 120
  step s2d_s0_r3_c120_c  50 s0 ab --no-cache --budget 1024 --users 120 --count 480 --seed 144
}
plan_sitting1() {

  # --- rows 1-6 of the issue, concurrency 120 unless said; one server (s0) ------------------------
  step r1n_c120      150 s0 vbn --num-prompts 240 --max-concurrency 120 --seed 11
  step r1r_c120      120 s0 vbr:300:12 --max-concurrency 120
  step r2_c120       110 s0 ab --no-cache --full-res --users 120 --count 300 --seed 13
  step r3_c120        90 s0 ab --no-cache --budget 1024 --users 120 --count 480 --seed 14
  step r4_mix_c120    90 s0 ab --budget 1024 --repeat-mix 0.68,0.22 --users 120 --count 600 --seed 15
  step r5_chat_c1     60 s0 ab --no-cache --users 1 --count 24 --seed 16
  step r5_agent_c1    70 s0 ab --no-cache --workload agent --users 1 --count 24 --seed 17 --agent-overhead 16
  step r6_sync        60 s0 ab --baseline sync --full-res --count 24 --seed 18
# --- concurrency sweep for the plot (rows 1-3) ----------------------------------------------------
  step r1r_c1         50 s0 vbr:12:21 --max-concurrency 1
  step r2_c1          30 s0 ab --no-cache --full-res --users 1 --count 12 --seed 24
  step r3_c1          30 s0 ab --no-cache --budget 1024 --users 1 --count 12 --seed 27
  step r1r_c8         50 s0 vbr:48:22 --max-concurrency 8
  step r2_c8          40 s0 ab --no-cache --full-res --users 8 --count 48 --seed 25
  step r3_c8          40 s0 ab --no-cache --budget 1024 --users 8 --count 64 --seed 28
  step r1r_c32        60 s0 vbr:128:23 --max-concurrency 32
  step r2_c32         50 s0 ab --no-cache --full-res --users 32 --count 128 --seed 26
  step r3_c32         50 s0 ab --no-cache --budget 1024 --users 32 --count 192 --seed 29
# --- smaller client images, the agent step at load ------------------------------------------------
  step r3b512_c120    80 s0 ab --no-cache --budget 512 --users 120 --count 480 --seed 30
  step agent_c120     90 s0 ab --no-cache --workload agent --users 120 --count 360 --seed 19
# --- where the ceiling comes from: one flag changed at a time, same rows --------------------------
  step x_mnbt16k_r1r 300 mnbt16k vbr:300:31 --max-concurrency 120
  step x_mnbt16k_r3  100 mnbt16k ab --no-cache --budget 1024 --users 120 --count 480 --seed 32
  step x_mmc0_r3     100 mmcache0 ab --no-cache --budget 1024 --users 120 --count 480 --seed 42
  step x_api4_r1n    280 api4 vbn --num-prompts 240 --max-concurrency 120 --seed 51
  step x_api4_r1r    120 api4 vbr:300:52 --max-concurrency 120
  step x_api4_r3     100 api4 ab --no-cache --budget 1024 --users 120 --count 480 --seed 53
  step ocr_c32        90 api4 ab --no-cache --workload ocr --users 32 --count 128 --seed 60
  step x_mnbt32k_r3  100 mnbt32k ab --no-cache --budget 1024 --users 120 --count 480 --seed 82
  step x_mnbt32k_r1r  60 mnbt32k vbr:300:31 --max-concurrency 120
}

[ "$PLAN" = sitting2 ] && plan_sitting2
[ "$PLAN" = sitting1 ] && plan_sitting1
[ "$PLAN" = diag ] && plan_diag
echo "[$(el)s] done: $(ls $R/*.json 2>/dev/null | grep -v -e sys.json -e engine_ | wc -l) result files"
python3 $H/show.py $(ls $R/*.json | grep -v -e sys.json -e warm_ -e engine_)
