#!/usr/bin/env bash
# Pre-build the realistic 1080p custom_image datasets of run_rows.sh (SEED:COUNT), in parallel.
# Started under setsid in an early call so the JSONL files are ready when the server is.
#   bash benchmarks/h100/datasets.sh sitting1|sitting2
REPO=$(pwd); D=/root/data; mkdir -p $D
case ${1:-sitting1} in
  sitting2) SETS="112:300 121:12 132:300 142:300 152:300" ;;
  *) SETS="12:300 21:12 22:48 23:128 31:300 41:300 52:300" ;;
esac
for sc in $SETS; do echo $sc; done | \
  xargs -P 7 -I{} bash -c 'sd=${1%%:*}; n=${1##*:}; [ -f '$D'/ds_$sd.jsonl ] || { env PYTHONPATH='$REPO':/root/appsite:/root/site python3 '$REPO'/benchmarks/export_vllm_dataset.py --count $n --seed $sd --full-res --out '$D'/ds_$sd.jsonl.bg && mv '$D'/ds_$sd.jsonl.bg '$D'/ds_$sd.jsonl; }' _ {}
ls -la $D
