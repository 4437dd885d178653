#!/usr/bin/env bash
# Pre-build the realistic 1080p custom_image datasets of run_rows.sh (SEED:COUNT), in parallel.
# Started under setsid in an early call so the JSONL files are ready when the server is.
REPO=$(pwd); D=/root/data; mkdir -p $D
for sc in 12:300 21:12 22:48 23:128 31:300 41:300 52:300; do echo $sc; done | \
  xargs -P 7 -I{} bash -c 'sd=${1%%:*}; n=${1##*:}; [ -f '$D'/ds_$sd.jsonl ] || { env PYTHONPATH='$REPO':/root/appsite:/root/site python3 '$REPO'/benchmarks/export_vllm_dataset.py --count $n --seed $sd --full-res --out '$D'/ds_$sd.jsonl.bg && mv '$D'/ds_$sd.jsonl.bg '$D'/ds_$sd.jsonl; }' _ {}
ls -la $D
