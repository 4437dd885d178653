#!/usr/bin/env bash
# Issue 17's H200 sitting, on the device, from the repo root (the vLLM payload already installed by
# .gpu/common/install.sh in earlier calls of the burst). Re-runnable across `run` calls: each step
# writes /root/res/NAME.json and is skipped once that exists; the engine (the app's own managed
# engine, `qwen3vl-agent engine start --detach --replicas N`) runs under setsid and survives between
# calls while the machine is warm. Steps are in priority order; one that does not fit is skipped.
#   LIMIT=570 bash .gpu/appcode/benchmarks/h200/run_rows.sh   (carry .gpu/common, .gpu/appcode, .gpu/app)
# Rows (docs/benchmarks.md, "H200"): A app path, 1024-token screenshots, 120 users, 1/2/3 replicas;
# B one user, agent steps with the 3-screenshot history (benchmarks/h200/agent_steps.py);
# C the repeat mix (0.68 / 0.22), 120 users; E OCR pages at the 2048 budget, 32 users.
set -u
T0=$(date +%s); LIMIT=${LIMIT:-570}
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( LIMIT - $(el) )); }
REPO=$(pwd); C=$REPO/.gpu/common; R=/root/res; mkdir -p $R /root/apphome
# the app's code as committed, copied once: every row of the sitting runs the same code. Either a
# `git archive` snapshot carried in .gpu/appcode (HEAD file inside) or, where none is carried, the
# carried working tree itself (commit everything first; APP_HEAD=<commit> names it) -- that saves
# ~4 MiB of every call's 64
if [ ! -d /root/appcode/qwen3vl_agent ]; then
  mkdir -p /root/appcode/tests
  if [ -d $REPO/.gpu/appcode/qwen3vl_agent ]; then cp -r $REPO/.gpu/appcode/. /root/appcode/
  else cp -r $REPO/qwen3vl_agent $REPO/benchmarks /root/appcode/ && cp -r $REPO/tests/support /root/appcode/tests/
       echo "${APP_HEAD:-working tree}" > /root/appcode/HEAD; fi
  echo "app code: $(cat /root/appcode/HEAD 2>/dev/null)"
fi
APPROOT=/root/appcode; H=$APPROOT/benchmarks/h100
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
       VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
APP_ENV=(env PYTHONPATH=$APPROOT:/root/appsite:/root/site QWEN3VL_AGENT_HOME=/root/apphome)
ENGINE=("${APP_ENV[@]}" QWEN3VL_AGENT_ENGINE__LAUNCHER=python-module QWEN3VL_AGENT_ENGINE__PYTHON_EXECUTABLE=python3
        QWEN3VL_AGENT_ENGINE__MODEL=/root/model QWEN3VL_AGENT_ENGINE__SERVED_MODEL_NAME=qwen3vl4b
        QWEN3VL_AGENT_ENGINE__DTYPE=bfloat16 QWEN3VL_AGENT_ENGINE__API_KEY=bench-key
        'QWEN3VL_AGENT_ENGINE__EXTRA_ARGS=["--load-format","dummy"]' python3 $H/appengine.py)
# NAME -> "REPLICAS extra vLLM flags...": the managed engine's default recipe plus these
declare -A SRV=(
  [r1]="1"
  [r3]="auto"  # the default: on this machine auto must pick 3 (engine_r3.json records it)
  [r2]="2"
  [r1_shm]="1 --mm-processor-cache-type shm"
  [r3_fp8]="3 --quantization fp8"
  [r1_fp8]="1 --quantization fp8"
  [r1_fast]="1 --mm-processor-kwargs {\"use_fast\":true}"
  [r1_seqs]="1 --max-num-seqs 512 --max-num-batched-tokens 32768"
  [r3_api2]="auto --api-server-count 2"  # row A: the default replicas, two API servers each
  [r1_api4]="1 --api-server-count 4"  # row D's lever (its 2026-12-06 try ran one server: see server())
  # lever 4: CUDA graphs for the vision encoder (vLLM's EncoderCudaGraphManager, off by default):
  # the encoder's kernel launches are host work, the kind row B's one-user TTFT is made of
  [r1_encg]="1 --compilation-config {\"cudagraph_mm_encoder\":true}"
)
EPS=http://127.0.0.1:8000/v1
AB() { "${APP_ENV[@]}" python3 $H/appbench.py --endpoint "$EPS" --model qwen3vl4b --api-key bench-key "$@"; }

all_healthy() { "${ENGINE[@]}" status --json > /root/status.json 2>/dev/null; }
stop_server() {
  [ -f /root/server.name ] || return 0
  "${ENGINE[@]}" stop --grace 20 | tail -1
  for f in /root/apphome/logs/vllm-server*.log; do cp "$f" /root/srv_$(cat /root/server.name)_$(basename "$f"); done
  rm -f /root/server.name; sleep 3
}
server() { # NAME: make this configuration the running engine, every replica healthy and warmed up
  local name=$1; read -r reps flags <<< "${SRV[$name]}"
  if [ "$(cat /root/server.name 2>/dev/null)" = "$name" ] && kill -0 "$(cat /root/starter.pid 2>/dev/null)" 2>/dev/null; then
    echo "[$(el)s] $name is still starting (started by an earlier call): waiting for it"
  elif [ "$(cat /root/server.name 2>/dev/null)" != "$name" ] || ! all_healthy; then
    # a start that waits needs this call's time; a launch that returns at once (NO_WAIT) does not
    [ "${NO_WAIT:-0}" != 1 ] && [ "$(left)" -lt 200 ] && { echo "[$(el)s] no time to start $name"; return 1; }
    stop_server
    echo "[$(el)s] starting $name: replicas $reps, flags: ${flags:-none}"
    local extra=(); for a in $flags; do extra+=("--extra-arg=$a"); done
    local eng=("${ENGINE[@]}")
    if [[ " $flags" == *" --api-server-count"* ]]; then
      # a `vllm serve`-only flag: the module launcher refuses it (it would run one API server), so
      # this configuration starts through the vllm script pip put in /root/site/bin
      eng=("${eng[@]/QWEN3VL_AGENT_ENGINE__LAUNCHER=python-module/QWEN3VL_AGENT_ENGINE__LAUNCHER=vllm-serve}")
      local cli=/root/site/bin/vllm
      if [ ! -x $cli ]; then  # pip --target drops a wheel's scripts when bin/ already exists
        cli=/root/vllm-cli; printf '#!/bin/sh\nexec python3 -c "import sys; from vllm.entrypoints.cli.main import main; sys.argv[0] = \\"vllm\\"; sys.exit(main())" "$@"\n' > $cli
        chmod +x $cli; echo "   no /root/site/bin/vllm: using $cli"
      fi
      eng=("${eng[@]/QWEN3VL_AGENT_ENGINE__PYTHON_EXECUTABLE=python3/QWEN3VL_AGENT_ENGINE__VLLM_EXECUTABLE=$cli}")
    fi
    setsid nohup "${eng[@]}" start --detach --port 8000 --replicas "$reps" --timeout 1500 "${extra[@]}" \
      > /root/start_$name.log 2>&1 < /dev/null &
    echo $! > /root/starter.pid; echo "$name" > /root/server.name; date +%s > /root/server.t0
  fi
  [ "${NO_WAIT:-0}" = 1 ] && return 0
  until all_healthy; do
    if [ "$(left)" -lt 60 ]; then echo "[$(el)s] $name still starting"; return 1; fi
    if ! kill -0 "$(cat /root/starter.pid)" 2>/dev/null && ! all_healthy; then
      sleep 2; all_healthy && break
      echo "[$(el)s] $name failed to start"; tail -5 /root/start_$name.log
      tail -5 /root/apphome/logs/vllm-server*.log; rm -f /root/server.name; return 1
    fi
    sleep 3
  done
  EPS=$(python3 -c "import json; print(','.join(r['base_url'] for r in json.load(open('/root/status.json'))['replicas']))")
  [ -f $R/engine_$name.json ] || {
    echo "[$(el)s] $name healthy $(( $(date +%s) - $(cat /root/server.t0) ))s after start"
    cp /root/status.json $R/engine_$name.json
    grep -hE "Model loading took|KV cache|Maximum concurrency|torch.compile takes|Graph capturing finished|init engine" \
      /root/apphome/logs/vllm-server*.log | cut -c1-240 > $R/server_$name.startup.txt; }
  if [ ! -f $R/warm_$name.done ]; then  # unmeasured: compile paths, CUDA graphs, connections
    AB --no-cache --budget 1024 --users 32 --count 64 --seed 999 --out /root/warm_$name.json > /root/warm_$name.log 2>&1 \
      && touch $R/warm_$name.done
    echo "[$(el)s] warm-up on $name done"
  fi
}
profile() { # NAME: with PYSPY=1, py-spy (carried in .gpu/spy) samples the first two API-server
  # processes, the first engine core and the app's (client's) process for 20 s, 25 s into the step
  # (lever 1: where the CPU goes); collapsed stacks in NAME.pyspy_PID.txt, which is which in
  # NAME.pyspy_ps.txt; summary: benchmarks/h200/pyspy_summary.py
  local name=$1 spy=/root/spysite/bin/py-spy
  [ "${PYSPY:-0}" = 1 ] || return 0
  # said, not skipped in silence: the sitting of 2026-12-06 lost its profiles to a py-spy that pip
  # had not installed (--target into an existing bin/ without --upgrade keeps the old bin/)
  [ -x $spy ] || { echo "   PYSPY=1 but no $spy: carry .gpu/spy (the py-spy wheel)" | tee $R/$name.pyspy_missing.txt; return 0; }
  sleep "${PYSPY_DELAY:-25}"
  local pids; pids="$(pgrep -f 'vllm.entrypoints.openai.api_server|bin/vllm serve|APIServer' | head -2) $(pgrep -f EngineCore | head -1)"
  local app; app=$(pgrep -f 'benchmarks/workspaces.py|h100/appbench.py' | head -1)
  ps -o pid,pcpu,args -p "$(echo $pids $app | tr ' ' ',')" | cut -c1-200 > $R/$name.pyspy_ps.txt
  for pid in $pids; do
    timeout 45 $spy record --nonblocking -r 97 -d 20 -f raw -o $R/$name.pyspy_$pid.txt -p "$pid" \
      > $R/$name.pyspy_$pid.log 2>&1 &
  done
  # the app's process: only what holds its GIL (--gil), the one resource its lanes share
  [ -n "$app" ] && timeout 45 $spy record --gil --nonblocking -r 97 -d 20 -f raw \
    -o $R/$name.pyspy_app_gil_$app.txt -p "$app" > $R/$name.pyspy_app_$app.log 2>&1 &
  wait
}
step() { # NAME NEED_S SERVER KIND(ab|bs) ARGS...
  local name=$1 need=$2 srv=$3 kind=$4; shift 4
  [ -f $R/$name.json ] && return 0
  [ "$(left)" -lt "$need" ] && { echo "[$(el)s] SKIP $name: needs ${need}s, $(left)s left"; return 0; }
  server "$srv" || { echo "[$(el)s] SKIP $name: server $srv not ready"; return 0; }
  [ "$(left)" -lt "$need" ] && { echo "[$(el)s] SKIP $name: needs ${need}s, $(left)s left"; return 0; }
  python3 $H/sampler.py $R/$name.sys.json & local smp=$!
  profile "$name" & local spy=$!
  echo "[$(el)s] >> $name"
  local cmd
  case $kind in
    ab) cmd=("${APP_ENV[@]}" python3 $H/appbench.py --endpoint "$EPS" --model qwen3vl4b --api-key bench-key
             --label "$name" --out $R/$name.json "$@") ;;
    bs) cmd=("${APP_ENV[@]}" python3 $APPROOT/benchmarks/h200/agent_steps.py --endpoint http://127.0.0.1:8000/v1
             --model qwen3vl4b --api-key bench-key --out $R/$name.json "$@") ;;
    # row D: workspaces (Xvfb + the Qt form from /root/xroot, /root/dsite: install_row_d.sh), the
    # scripted policy forwarding every step to the engine's replicas
    wd) cmd=(env PATH="/root/xroot/bin:$PATH:/root/xroot/usr/bin" LD_LIBRARY_PATH=/root/xroot/fill
             FONTCONFIG_FILE=/root/xroot/etc/fonts/fonts.conf XLOCALEDIR=/root/xroot/usr/share/X11/locale
             PYTHONPATH=$APPROOT:/root/dsite:/root/appsite:/root/site QWEN3VL_AGENT_HOME=/root/apphome
             python3 $APPROOT/benchmarks/workspaces.py --forward "$EPS" --forward-model qwen3vl4b
             --forward-api-key bench-key --out $R/$name.json "$@") ;;
  esac
  echo "   endpoints: $EPS" > $R/$name.log
  timeout $(( $(left) - 8 )) "${cmd[@]}" >> $R/$name.log 2>&1; local rc=$?
  kill $smp; wait $smp 2>/dev/null; wait $spy 2>/dev/null
  [ $rc -ne 0 ] && { echo "   $name rc=$rc"; tail -4 $R/$name.log; }
  case $kind in ab) [ -f $R/$name.json ] && python3 $H/show.py $R/$name.json ;; bs|wd) tail -2 $R/$name.log ;; esac
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('   sys:', json.dumps(d)[:300])" $R/$name.sys.json 2>/dev/null
  return 0
}
collect() {
  [ -n "${OUT:-}" ] || return 0
  for f in /root/apphome/logs/vllm-server*.log /root/srv_*.log /root/start_*.log; do
    [ -f "$f" ] && tail -c 100000 "$f" > $R/log_"$(basename "$f" .log)".txt; done
  nvidia-smi > $R/nvidia-smi.txt 2>&1; python3 -c "import vllm; print(vllm.__version__)" > $R/vllm_version.txt 2>&1
  tar czf $OUT/res.tgz -C /root res 2>/dev/null; ls -la $OUT
}
trap collect EXIT
export PYTHONPATH=/root/site
bash $C/install.sh || exit 1
# the app's light dependencies the device image lacks (pydantic-settings, platformdirs, sqlite-utils, …)
if [ -d $REPO/.gpu/app ] && [ ! -f /root/appsite/.done ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /root/appsite $REPO/.gpu/app/*.whl && touch /root/appsite/.done
fi
# py-spy for PYSPY=1 (lever 1), in a folder of its own so its bin/ is not dropped
if [ -d $REPO/.gpu/spy ] && [ ! -x /root/spysite/bin/py-spy ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /root/spysite $REPO/.gpu/spy/*.whl
fi
[ "${1:-}" = "install-only" ] && exit 0
if [ "${1:-}" = "start-only" ]; then
  # launch the engine configuration ${2:-r3} (setsid: it goes on starting after this call ends, while
  # the machine stays warm) and return at once, so its cold start overlaps the next call's set-up
  NO_WAIT=1 server "${2:-r3}"; echo "[$(el)s] start-only: $(cat /root/server.name 2>/dev/null) launched"
  exit 0
fi

if [ "${SITTING:-1}" = D ]; then
  # issue 17 row D (benchmarks/h200/run_row_d.sh): N workspaces, each step through the app's path
  # and the GPU (64 tokens decoded per step); rows per workspace so that each N takes <= ~90 s
  SRV_D=${ROW_D_SERVER:-r3}
  # D_TAG=_x: a lever run of N = 32 only on ROW_D_SERVER (d_w32_x), next to the three above
  # D_SWEEP=1: N = 1, 2, 4, 8, 16, 32 in one sitting (where the scaling bends: the GPU's limit), then
  # the lighter step (one screenshot a prompt, agent.history_images = 1) at N = 8 and 32
  if [ "${D_SWEEP:-0}" = 1 ]; then
    for n in 1 2 4 8 16 32; do
      case $n in 1) rows=${ROWS_D1:-4} ;; 2|4|8) rows=3 ;; *) rows=2 ;; esac
      step d_w$n 100 $SRV_D wd --counts $n --rows-per-workspace $rows --forward-max-tokens 64
    done
    step d_w8_h1  80 $SRV_D wd --counts 8  --rows-per-workspace 3 --forward-max-tokens 64 --history-images 1
    step d_w32_h1 90 $SRV_D wd --counts 32 --rows-per-workspace 2 --forward-max-tokens 64 --history-images 1
    # row A's lever the third sitting left: more API servers where row A's one is pegged (~110 %)
    step a_r3       80 r3 ab --no-cache --budget 1024 --users 120 --count 900 --seed 12
    # row C again, now that repeated screenshots are prepared once (imaging/prep_memo.py)
    step c_r3       70 r3 ab --budget 1024 --repeat-mix 0.68,0.22 --users 120 --count 1200 --seed 13
    step a_r1api4   80 r1_api4 ab --no-cache --budget 1024 --users 120 --count 600 --seed 82
    step a_r1       80 r1 ab --no-cache --budget 1024 --users 120 --count 600 --seed 2
    step a_r3api2   80 r3_api2 ab --no-cache --budget 1024 --users 120 --count 900 --seed 92
  fi
  [ -z "${D_TAG:-}" ] && step d_w1   100 $SRV_D wd --counts 1  --rows-per-workspace ${ROWS_D1:-6} --forward-max-tokens 64
  [ -z "${D_TAG:-}" ] && step d_w8   110 $SRV_D wd --counts 8  --rows-per-workspace ${ROWS_D8:-3} --forward-max-tokens 64
  step d_w32${D_TAG:-}  150 $SRV_D wd --counts 32 --rows-per-workspace ${ROWS_D32:-2} --forward-max-tokens 64
  # lever 5 when time is left: the agent step outside the model, one user
  [ -z "${D_TAG:-}" ] && step r5_$SRV_D 60 $SRV_D ab --no-cache --workload agent --users 1 --count 24 --seed 117 --agent-overhead 24
elif [ "${SITTING:-1}" = L ]; then
  # levers at one replica, each against the plain r1 of the same sitting (2026-12-06): FP8 (lever 3;
  # compressed-tensors + loguru carried in .gpu/app), then --max-num-seqs / --max-num-batched-tokens (lever 4)
  step b_r1     50 r1 bs --runs 4 --steps 8 --slide-block 0 --seed 1
  step a_r1     80 r1 ab --no-cache --budget 1024 --users 120 --count 600 --seed 2
  step b_r1fp8  50 r1_fp8 bs --runs 4 --steps 8 --slide-block 0 --seed 41
  step a_r1fp8  80 r1_fp8 ab --no-cache --budget 1024 --users 120 --count 600 --seed 42
  step a_r1seqs 80 r1_seqs ab --no-cache --budget 1024 --users 120 --count 600 --seed 62
elif [ "${SITTING:-1}" = G ]; then
  # lever 4's last item (2026-12-06, third sitting): encoder CUDA graphs at one replica against the
  # plain r1 of the same call; row B (one user: launch overhead shows most) first, then row A
  step b_r1     50 r1 bs --runs 4 --steps 8 --slide-block 0 --seed 1
  step b_r1encg 50 r1_encg bs --runs 4 --steps 8 --slide-block 0 --seed 71
  step a_r1encg 80 r1_encg ab --no-cache --budget 1024 --users 120 --count 600 --seed 72
  step a_r1     80 r1 ab --no-cache --budget 1024 --users 120 --count 600 --seed 2
elif [ "${SITTING:-1}" = 1 ]; then
  step b_r1     60 r1 bs --runs 4 --steps 8 --slide-block 0 --slide-block 1 --seed 1
  step a_r1     80 r1 ab --no-cache --budget 1024 --users 120 --count 600 --seed 2
  step c_r1     70 r1 ab --budget 1024 --repeat-mix 0.68,0.22 --users 120 --count 800 --seed 3
  step e_r1     80 r1 ab --no-cache --workload ocr --users 32 --count 128 --seed 4
  step a_r3     80 r3 ab --no-cache --budget 1024 --users 120 --count 900 --seed 12
  step c_r3     70 r3 ab --budget 1024 --repeat-mix 0.68,0.22 --users 120 --count 1200 --seed 13
  step e_r3     80 r3 ab --no-cache --workload ocr --users 32 --count 192 --seed 14
  step b_r3     50 r3 bs --runs 4 --steps 8 --slide-block 0 --seed 11
  step a_r2     80 r2 ab --no-cache --budget 1024 --users 120 --count 720 --seed 22
  step b_r1shm  50 r1_shm bs --runs 4 --steps 8 --slide-block 0 --seed 31
  step a_r1shm  80 r1_shm ab --no-cache --budget 1024 --users 120 --count 600 --seed 32
  step a_r3fp8  80 r3_fp8 ab --no-cache --budget 1024 --users 120 --count 900 --seed 42
  step b_r3fp8  50 r3_fp8 bs --runs 4 --steps 8 --slide-block 0 --seed 41
else
  # second sitting (issue 17, 2026-12-05): the replicas' one-after-another start on a COLD machine
  # (the first step starts r3: engine_r3.json / server_r3.startup.txt record it), rows A/B again for
  # same-sitting ratios, the agent step's overhead outside the model (lever 5), then FP8 (compressed-tensors carried) and levers 1 and 4 at one replica
  step a_r3     80 r3 ab --no-cache --budget 1024 --users 120 --count 900 --seed 12
  step b_r3     50 r3 bs --runs 4 --steps 8 --slide-block 0 --seed 11
  # lever 5: the app's agent step outside the model, one user (capture stand-in, prep, build, queue)
  step r5_r3    60 r3 ab --no-cache --workload agent --users 1 --count 24 --seed 117 --agent-overhead 24
  step c_r3     70 r3 ab --budget 1024 --repeat-mix 0.68,0.22 --users 120 --count 1200 --seed 13
  step a_r1     80 r1 ab --no-cache --budget 1024 --users 120 --count 600 --seed 2
  step b_r1     50 r1 bs --runs 4 --steps 8 --slide-block 0 --seed 1
  step e_r1     80 r1 ab --no-cache --workload ocr --users 32 --count 128 --seed 4
  step a_r1fp8  80 r1_fp8 ab --no-cache --budget 1024 --users 120 --count 600 --seed 42
  step b_r1fp8  50 r1_fp8 bs --runs 4 --steps 8 --slide-block 0 --seed 41
  step e_r1fp8  80 r1_fp8 ab --no-cache --workload ocr --users 32 --count 128 --seed 44
  step a_r1fast 80 r1_fast ab --no-cache --budget 1024 --users 120 --count 600 --seed 52
  step b_r1fast 50 r1_fast bs --runs 4 --steps 8 --slide-block 0 --seed 51
  step a_r1seqs 80 r1_seqs ab --no-cache --budget 1024 --users 120 --count 600 --seed 62
  step e_r1seqs 80 r1_seqs ab --no-cache --workload ocr --users 32 --count 128 --seed 64
fi
echo "[$(el)s] done: $(ls $R/*.json 2>/dev/null | grep -v -e sys.json -e engine_ | wc -l) result files"
python3 $H/show.py $(ls $R/*.json | grep -v -e sys.json -e engine_ -e '/b_') 2>/dev/null
