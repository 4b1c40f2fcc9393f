"""How well a model keeps the narrative's rules: ``python -m llm.evaluate``.

    python -m llm.evaluate --adapter adapter/ --data heldout.jsonl
    python -m llm.evaluate --base openai/gpt-oss-20b --data heldout.jsonl   # no adapter
    python -m llm.evaluate --adapter adapter/ --data heldout.jsonl \
        --out with.json --with-base without.json     # both, the weights loaded once

For each held-out pair of ``llm.dataset`` the model answers the prompt (greedy);
the answer's JSON is read (for gpt-oss, harmony's final channel) and grounded with
``plog_ci.report.grounding.ground``, as the report does. Reports:

- ``kept_share``: claims kept / claims proposed (a malformed answer proposes none
  and counts under ``unparsed``);
- ``cause_match_share``: of the runs with a fault, those whose first kept cause
  claim cites the evidence of that fault (``llm.targets.cause_of``);
- ``dropped``: dropped claims by reason; ``ungrounded_numbers``: numbers in the kept
  claims that the bundle does not hold (0 unless grounding is broken).

Prints one summary line per model (JSON) and, with ``--out``, writes the figures and
the answers as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from peft import PeftConfig, PeftModel

from llm.dataset import read_jsonl
from llm.encode import prompt_ids
from llm.targets import cause_of
from llm.train import load_base
from plog_ci.report.evidence import Bundle
from plog_ci.report.grounding import ground, ungrounded_numbers

FINAL_CHANNEL = "<|channel|>final<|message|>"


def parse_answer(text: str) -> Any:
    """The first JSON object in ``text`` (after harmony's final-channel marker when
    present); None when there is none."""
    if FINAL_CHANNEL in text:
        text = text.rsplit(FINAL_CHANNEL, 1)[1]
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
            return value
        except ValueError:
            start = text.find("{", start + 1)
    return None


class Tally:
    """The figures of one evaluation (see the module doc)."""

    def __init__(self) -> None:
        self.runs = 0
        self.unparsed = 0
        self.proposed = 0
        self.kept = 0
        self.dropped: Counter[str] = Counter()
        self.fault_runs = 0
        self.cause_matched = 0
        self.ungrounded: list[str] = []

    def add(self, answer: Any, bundle: Bundle, fault: str) -> None:
        self.runs += 1
        grounded = ground(answer, bundle)
        if "malformed-answer" in grounded.dropped:
            self.unparsed += 1
        else:
            self.proposed += len(grounded.claims) + grounded.dropped_total
            self.dropped.update(grounded.dropped)
        self.kept += len(grounded.claims)
        text = "\n".join(c.text for c in grounded.claims)
        self.ungrounded += ungrounded_numbers(text, bundle)
        if fault != "none":
            self.fault_runs += 1
            causes = [c for c in grounded.claims if c.kind == "cause"]
            if causes and cause_of(causes[0].to_json(), bundle) == fault:
                self.cause_matched += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "unparsed": self.unparsed,
            "claims_proposed": self.proposed,
            "claims_kept": self.kept,
            "kept_share": round(self.kept / self.proposed, 4) if self.proposed else 0.0,
            "dropped": dict(sorted(self.dropped.items())),
            "fault_runs": self.fault_runs,
            "cause_matched": self.cause_matched,
            "cause_match_share": (
                round(self.cause_matched / self.fault_runs, 4) if self.fault_runs else 0.0
            ),
            "ungrounded_numbers": len(self.ungrounded),
        }


def load_model(
    base: str | None, adapter: Path | None, device: torch.device
) -> tuple[Any, Any, str]:
    """Tokenizer and model (with the adapter when given); the base defaults to the
    adapter's ``base_model_name_or_path``. Returns the base's name too."""
    if adapter is not None:
        base = base or str(PeftConfig.from_pretrained(str(adapter)).base_model_name_or_path)
    if not base:
        raise ValueError("give --base, or --adapter whose config names its base")
    tokenizer, model = load_base(base, device)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return tokenizer, model, base


def generate(
    tokenizer: Any, model: Any, conversations: Sequence[Sequence[dict[str, str]]], max_new: int
) -> list[str]:
    """The model's greedy continuations of ``conversations``, one batch (padded on the
    left); special tokens kept: harmony's channel markers tell the final answer from
    the reasoning."""
    prompts = [prompt_ids(tokenizer, messages) for messages in conversations]
    width = max(len(p) for p in prompts)
    pad = int(tokenizer.pad_token_id)
    device = next(model.parameters()).device
    inputs = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    with torch.no_grad():
        out = model.generate(
            input_ids=inputs,
            attention_mask=mask,
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=pad,
        )
    return [str(tokenizer.decode(row[width:], skip_special_tokens=False)) for row in out]


def evaluate(
    tokenizer: Any, model: Any, rows: Sequence[dict[str, Any]], max_new: int, batch_size: int = 8
) -> tuple[Tally, list[dict[str, Any]]]:
    """Answer, parse and ground each row; the tally and, per row, what was said."""
    tally = Tally()
    answers = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        texts = generate(tokenizer, model, [r["messages"][:2] for r in chunk], max_new)
        for row, text in zip(chunk, texts, strict=True):
            bundle = Bundle.from_json(row["bundle"])
            tally.add(parse_answer(text), bundle, str(row.get("fault", "none")))
            answers.append({"id": row.get("id"), "fault": row.get("fault"), "answer": text[:4000]})
    return tally, answers


def main(argv: Sequence[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m llm.evaluate", description=doc.split("\n")[0])
    parser.add_argument("--adapter", type=Path, help="a folder written by llm.train")
    parser.add_argument("--base", help="the base model (default: the adapter's)")
    parser.add_argument("--data", type=Path, required=True, help="held-out pairs of llm.dataset")
    parser.add_argument("--limit", type=int, help="evaluate the first N pairs")
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts generated together")
    parser.add_argument("--out", type=Path, help="write the figures (and answers) as JSON")
    parser.add_argument(
        "--with-base",
        type=Path,
        metavar="OUT",
        help="with --adapter: evaluate the base alone first (the adapter disabled) into OUT",
    )
    parser.add_argument("--device", help="cuda, cpu (default: cuda when present)")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rows = read_jsonl(args.data)[: args.limit]
    try:
        tokenizer, model, base = load_model(args.base, args.adapter, device)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs: list[tuple[str | None, Path | None]] = []
    if args.with_base is not None and args.adapter is not None:
        runs.append((None, args.with_base))
    runs.append((str(args.adapter) if args.adapter else None, args.out))
    for adapter, out in runs:
        started = time.monotonic()
        if adapter is None and args.adapter is not None:
            with model.disable_adapter():  # the same weights without the adapter
                tally, answers = evaluate(
                    tokenizer, model, rows, args.max_new_tokens, args.batch_size
                )
        else:
            tally, answers = evaluate(tokenizer, model, rows, args.max_new_tokens, args.batch_size)
        figures = {
            "base": base,
            "adapter": adapter,
            **tally.to_json(),
            "seconds": round(time.monotonic() - started, 1),
        }
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({**figures, "answers": answers}, indent=1) + "\n")
        print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
