#!/usr/bin/env bash
# The GPU figures of issue 20 in one short, prepared run: a brief LoRA training of
# gpt-oss-20b on synthetic runs, then the evaluation on held-out runs with and
# without the adapter (share of claims kept, share of causes matching the injected
# fault, dropped claims by reason). Prints both summaries; files go to $OUT.
#
#   bash llm/gpu_run.sh                       # every stage (sized for ~10 min on one H200)
#   STAGES="data train" bash llm/gpu_run.sh; STAGES="eval summary" bash llm/gpu_run.sh
#   MODEL=/models/gpt-oss-20b STEPS=120 bash llm/gpu_run.sh
#   TINY=1 TRAIN_N=6 HELDOUT_N=2 STEPS=2 MAX_NEW=16 bash llm/gpu_run.sh   # the script's own check, CPU
#
# Needs: one GPU with about 80 GB (bf16 weights, dequantised from MXFP4, plus LoRA
# training state), CUDA torch, transformers, peft and accelerate (the `llm` extra,
# with a CUDA torch instead of the CPU one), and the weights of MODEL where
# transformers finds them: a folder, or the Hugging Face cache (HF_HOME). A machine
# that cannot reach the hub needs them copied there first; HF_HUB_OFFLINE=1 makes
# that explicit.
set -euo pipefail

MODEL=${MODEL:-openai/gpt-oss-20b}
OUT=${OUT:-/tmp/plog-llm-gpu}
STAGES=${STAGES:-data train eval summary}
TRAIN_N=${TRAIN_N:-200}       # synthetic training runs (seed 1)
HELDOUT_N=${HELDOUT_N:-10}    # held-out runs (seed 2: other runs)
STEPS=${STEPS:-24}            # optimizer steps
ACCUM=${ACCUM:-4}             # pairs per step
RANK=${RANK:-16}
LR=${LR:-2e-4}
MAX_NEW=${MAX_NEW:-768}       # answer tokens, harmony analysis (effort low) included
BATCH=${BATCH:-10}            # held-out prompts generated together
PY=${PY:-python}
TINY=${TINY:-}                # 1: the tiny CPU model of llm.tiny, to check this script

cd "$(dirname "$0")/.."
mkdir -p "$OUT"
if [[ -z "$TINY" ]]; then
"$PY" - <<'PY' || exit 3
import sys
import torch
if not torch.cuda.is_available():
    sys.exit("no CUDA device: this script is for a GPU machine")
print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
PY
"$PY" -c "from transformers import AutoConfig; AutoConfig.from_pretrained('$MODEL')" || {
  echo "error: the weights of $MODEL are not reachable (set MODEL to a folder or fill HF_HOME)" >&2
  exit 3
}
fi

stage() { [[ " $STAGES " == *" $1 "* ]]; }
start=$(date +%s)
budget=()
base=(--base "$MODEL")
if [[ -n "$TINY" ]]; then
  budget=(--budget-tokens 300)
  base=(--tiny)
fi
if stage data; then
  "$PY" -m llm.dataset --synthetic "$TRAIN_N" --seed 1 "${budget[@]}" --out "$OUT/train.jsonl"
  "$PY" -m llm.dataset --synthetic "$HELDOUT_N" --seed 2 "${budget[@]}" --out "$OUT/heldout.jsonl"
fi
if stage train; then
  "$PY" -m llm.train "${base[@]}" --data "$OUT/train.jsonl" --out "$OUT/adapter" \
    --max-steps "$STEPS" --grad-accum "$ACCUM" --rank "$RANK" --alpha $((RANK * 2)) --lr "$LR" \
    --gradient-checkpointing
fi
[[ -n "$TINY" ]] && MODEL="$OUT/adapter/base"
if stage eval; then
  # one load of the weights: the base alone (adapter disabled), then with the adapter
  "$PY" -m llm.evaluate --adapter "$OUT/adapter" --base "$MODEL" --data "$OUT/heldout.jsonl" \
    --max-new-tokens "$MAX_NEW" --batch-size "$BATCH" \
    --with-base "$OUT/eval-base.json" --out "$OUT/eval-adapter.json"
fi
stage summary || exit 0

"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
log = json.loads((out / "adapter" / "train_log.json").read_text())
print(f"training: {log['steps']} steps, {log['examples']} pairs, {log['seconds']} s, "
      f"loss {log['losses'][0]} -> {log['losses'][-1]}")
for name in ("base", "adapter"):
    f = json.loads((out / f"eval-{name}.json").read_text())
    print(f"{name:8} kept {f['claims_kept']}/{f['claims_proposed']} ({f['kept_share']:.0%}), "
          f"cause match {f['cause_matched']}/{f['fault_runs']} ({f['cause_match_share']:.0%}), "
          f"unparsed {f['unparsed']}/{f['runs']}, dropped {f['dropped']}, "
          f"ungrounded numbers {f['ungrounded_numbers']}")
PY
echo "total $(( $(date +%s) - start )) s; files in $OUT"
