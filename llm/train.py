"""LoRA fine-tuning of the report model: ``python -m llm.train``.

    python -m llm.train --base openai/gpt-oss-20b --data train.jsonl --out adapter/
    python -m llm.train --tiny --data train.jsonl --out /tmp/tiny-adapter --max-steps 20

A plain PyTorch loop over the pairs of ``llm.dataset`` (loss on the answer only),
with peft's LoRA on ``--target-modules`` (rank, alpha, dropout, learning rate as
arguments). On a GPU the base loads in bfloat16 (gpt-oss's MXFP4 experts
dequantised, as peft trains bf16 weights) and the forward pass runs under bf16
autocast; on the CPU in float32. ``--tiny`` trains a 2-layer model built from a
config (``llm.tiny``, no download) and saves it as ``OUT/base``.

Writes ``OUT/adapter_config.json``, ``OUT/adapter_model.safetensors``, the
tokenizer, and ``OUT/train_log.json`` ({"losses": [per step], "examples",
"skipped", "steps", "seconds"}). The attention-only default (q/k/v/o) is what
vLLM serves on gpt-oss with ``--enable-lora``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm.dataset import read_jsonl
from llm.encode import IGNORE, Encoded, encode
from llm.tiny import save_tiny_base

DEFAULT_TARGETS = "q_proj,k_proj,v_proj,o_proj"


@dataclass(frozen=True)
class TrainSettings:
    """The knobs of one training run (``main``'s arguments)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = tuple(DEFAULT_TARGETS.split(","))
    lr: float = 2e-4
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 1
    grad_accum: int = 8
    max_length: int = 6144
    warmup: float = 0.05
    seed: int = 0
    gradient_checkpointing: bool = False


def load_base(base: str, device: torch.device) -> tuple[Any, Any]:
    """Tokenizer and model of ``base`` (a hub id or a folder): bf16 on a GPU, with
    gpt-oss's MXFP4 weights dequantised; float32 on the CPU."""
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {}
    if device.type == "cuda":
        kwargs.update(dtype=torch.bfloat16, device_map={"": device.index or 0})
        if "gpt-oss" in base:
            from transformers import Mxfp4Config  # type: ignore[attr-defined]

            kwargs.update(
                quantization_config=Mxfp4Config(dequantize=True), attn_implementation="eager"
            )
    else:
        kwargs.update(dtype=torch.float32)
    model: Any = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if device.type != "cuda":
        model.to(device)
    return tokenizer, model


def _batch(rows: Sequence[Encoded], pad: int, device: torch.device) -> dict[str, torch.Tensor]:
    width = max(len(r.input_ids) for r in rows)
    ids = [r.input_ids + [pad] * (width - len(r.input_ids)) for r in rows]
    labels = [r.labels + [IGNORE] * (width - len(r.labels)) for r in rows]
    mask = [[1] * len(r.input_ids) + [0] * (width - len(r.input_ids)) for r in rows]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def train(
    base: str, data: Path, out: Path, settings: TrainSettings, device: torch.device
) -> dict[str, Any]:
    """Train an adapter of ``base`` on the pairs in ``data``; save it in ``out``.
    Returns the training log (see the module doc). Raises ValueError when no pair
    fits ``max_length``."""
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    tokenizer, model = load_base(base, device)
    encoded = [encode(tokenizer, r["messages"], settings.max_length) for r in read_jsonl(data)]
    pairs = [e for e in encoded if e is not None]
    if not pairs:
        raise ValueError(f"no pair of {data} fits in {settings.max_length} tokens")
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    per_epoch = math.ceil(len(pairs) / (settings.batch_size * settings.grad_accum))
    steps = settings.max_steps or max(1, math.ceil(per_epoch * settings.epochs))
    warmup = int(steps * settings.warmup)

    def factor(step: int) -> float:  # linear warm-up, then cosine decay to 10%
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    order: list[Encoded] = []
    losses: list[float] = []
    started = time.monotonic()
    for step in range(steps):
        total = 0.0
        for _ in range(settings.grad_accum):
            if len(order) < settings.batch_size:
                order += random.sample(pairs, len(pairs))
            rows, order = order[: settings.batch_size], order[settings.batch_size :]
            batch = _batch(rows, int(tokenizer.pad_token_id), device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = model(**batch).loss / settings.grad_accum
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(total, 5))
        print(f"step {step + 1}/{steps} loss {total:.4f}", file=sys.stderr, flush=True)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(out)
    log = {
        "base": base,
        "losses": losses,
        "examples": len(pairs),
        "skipped": len(encoded) - len(pairs),
        "steps": steps,
        "seconds": round(time.monotonic() - started, 1),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()},
    }
    (out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    return log


def main(argv: Sequence[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m llm.train", description=doc.split("\n")[0])
    parser.add_argument("--base", default="openai/gpt-oss-20b", help="hub id or folder")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model (CPU test)")
    parser.add_argument("--data", type=Path, required=True, help="pairs of llm.dataset")
    parser.add_argument("--out", type=Path, required=True, help="the adapter's folder")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.05)
    parser.add_argument("--target-modules", default=DEFAULT_TARGETS, help="comma-separated")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, help="optimizer steps (overrides --epochs)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=6144, help="longer pairs are skipped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda when present)")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base = args.base
    if args.tiny:
        corpus = (m["content"] for r in read_jsonl(args.data) for m in r["messages"])
        base = str(save_tiny_base(args.out.resolve() / "base", corpus, args.seed))
    settings = TrainSettings(
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()),
        lr=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        max_length=args.max_length,
        seed=args.seed,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    try:
        log = train(base, args.data, args.out, settings, device)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    first, last = log["losses"][0], log["losses"][-1]
    print(
        f"trained {log['steps']} steps on {log['examples']} pairs ({log['skipped']} too long) "
        f"in {log['seconds']} s: loss {first:.4f} -> {last:.4f}; adapter in {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
