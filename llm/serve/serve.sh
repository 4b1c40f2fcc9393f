#!/usr/bin/env bash
# vLLM serving openai/gpt-oss-20b with PLog's LoRA adapter: the server that
# `report.ai` talks to (OpenAI-compatible, http://HOST:PORT/v1).
#
#   PLOG_LLM_ADAPTER=/adapters/plog llm/serve/serve.sh           # serve
#   llm/serve/serve.sh --print                                  # show the command only
#
# plog.yml then says:
#   report: {ai: {url: http://HOST:8000/v1, model: openai/gpt-oss-20b, adapter: plog}}
#
# Needs vLLM with LoRA on gpt-oss (v0.11.1 or later) and the `structured_outputs`
# request field (v0.12 or later; the older guided_* fields and
# --guided-decoding-backend are gone), one GPU with about 24 GB free for the
# 20b model (MXFP4 weights) and the model in the Hugging Face cache or reachable.
# Settings come from the environment (defaults in brackets):
#   PLOG_LLM_MODEL [openai/gpt-oss-20b]   hub id or folder of the base model
#   PLOG_LLM_ADAPTER [/adapters/plog]     the adapter folder (llm.train --out); empty: none
#   PLOG_LLM_ADAPTER_NAME [plog]          the name requests use (report.ai.adapter)
#   PLOG_LLM_MAX_LORA_RANK [16]           at least the adapter's rank (llm.train --rank)
#   PLOG_LLM_MAX_MODEL_LEN [16384]        prompt + answer, tokens (a bundle is ~3000)
#   PLOG_LLM_GPU_MEMORY [0.90]            share of the GPU's memory vLLM may take
#   PLOG_LLM_STRUCTURED_BACKEND [xgrammar] the JSON-schema grammar engine
#   HOST [127.0.0.1], PORT [8000]
#   VLLM_API_KEY                          when set, vLLM wants it as a bearer token
set -euo pipefail

model=${PLOG_LLM_MODEL:-openai/gpt-oss-20b}
adapter=${PLOG_LLM_ADAPTER-/adapters/plog}
adapter_name=${PLOG_LLM_ADAPTER_NAME:-plog}
max_rank=${PLOG_LLM_MAX_LORA_RANK:-16}
max_len=${PLOG_LLM_MAX_MODEL_LEN:-16384}
gpu_memory=${PLOG_LLM_GPU_MEMORY:-0.90}
backend=${PLOG_LLM_STRUCTURED_BACKEND:-xgrammar}

args=(
  serve "$model"
  --host "${HOST:-127.0.0.1}"
  --port "${PORT:-8000}"
  --served-model-name "$model"
  --max-model-len "$max_len"
  --gpu-memory-utilization "$gpu_memory"
  # CLAIMS_SCHEMA reaches vLLM as response_format json_schema: a grammar, so the
  # answer is always the claims JSON
  --structured-outputs-config "{\"backend\": \"$backend\"}"
  # gpt-oss writes its reasoning on harmony's analysis channel first: the grammar
  # applies to the final channel, which is what the client reads as content
  --reasoning-parser openai_gptoss
)
if [[ -n "$adapter" ]]; then
  args+=(
    --enable-lora
    --lora-modules "$adapter_name=$adapter"
    --max-lora-rank "$max_rank"
    --max-loras 1
  )
fi

if [[ "${1:-}" == "--print" ]]; then
  printf '%s\n' vllm "${args[@]}"
  exit 0
fi
if [[ -n "$adapter" && ! -f "$adapter/adapter_config.json" ]]; then
  echo "error: no adapter in $adapter (adapter_config.json); train one with python -m llm.train," >&2
  echo "or set PLOG_LLM_ADAPTER= to serve the base model alone" >&2
  exit 2
fi
exec vllm "${args[@]}"
