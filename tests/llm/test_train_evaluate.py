"""The LoRA recipe on the CPU (issue 20 item 4): a tiny randomly initialised model
built from a config trains a few steps (the loss falls), its adapter is saved,
reloaded with peft and generates; the evaluation grounds what it says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llm.dataset import main as dataset_main
from llm.dataset import read_jsonl
from plog_ci.report.evidence import Bundle
from testing.load_lock import load_lock
from tests.llm.optional import require

torch = require("torch")
require("peft")
require("transformers")

from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from llm import evaluate, train  # noqa: E402
from llm.targets import target_claims  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    work = tmp_path_factory.mktemp("tiny")
    data = work / "train.jsonl"
    dataset_main(["--synthetic", "4", "--seed", "1", "--budget-tokens", "250", "--out", str(data)])
    out = work / "adapter"
    args = ["--tiny", "--data", str(data), "--out", str(out), "--max-steps", "8"]
    args += ["--batch-size", "4", "--grad-accum", "1", "--lr", "1e-2", "--rank", "8"]
    args += ["--target-modules", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"]
    with load_lock(exclusive=False):  # training takes the CPU: not beside a timing test
        assert train.main(args) == 0
    log = json.loads((out / "train_log.json").read_text())
    return data, out, log


def test_tiny_training_lowers_the_loss_and_saves_an_adapter(
    trained: tuple[Path, Path, dict[str, object]],
) -> None:
    _, out, log = trained
    losses = log["losses"]
    assert isinstance(losses, list) and len(losses) == 8
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.1, losses
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["peft_type"] == "LORA"
    assert Path(config["base_model_name_or_path"]) == (out / "base").resolve()
    assert (out / "adapter_model.safetensors").is_file()
    assert log["examples"] == 4 and log["skipped"] == 0


def test_the_adapter_reloads_with_peft_and_generates(
    trained: tuple[Path, Path, dict[str, object]],
) -> None:
    data, out, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(out / "base")
    base = AutoModelForCausalLM.from_pretrained(out / "base")
    model = PeftModel.from_pretrained(base, out)
    lora = {k: v for k, v in model.state_dict().items() if "lora_B" in k}
    assert lora and any(float(v.abs().sum()) > 0 for v in lora.values())  # trained, not zeros
    before = AutoModelForCausalLM.from_pretrained(out / "base")
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert not torch.allclose(model(input_ids=ids).logits, before(input_ids=ids).logits)
    rows = read_jsonl(data)
    texts = evaluate.generate(tokenizer, model, [r["messages"][:2] for r in rows[:2]], 12)
    assert len(texts) == 2 and all(isinstance(t, str) and t for t in texts)


def test_evaluation_reports_figures_of_the_tiny_adapter(
    trained: tuple[Path, Path, dict[str, object]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, out, _ = trained
    report, without = tmp_path / "eval.json", tmp_path / "base.json"
    args = ["--adapter", str(out), "--data", str(data), "--max-new-tokens", "16"]
    args += ["--batch-size", "2", "--out", str(report), "--with-base", str(without)]
    assert evaluate.main(args) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["adapter"] for x in lines] == [None, str(out)]
    line, figures = lines[-1], json.loads(report.read_text())
    # the base figures come from the same weights with the adapter disabled: the plain
    # base model answers the same, token for token
    tokenizer = AutoTokenizer.from_pretrained(out / "base")
    plain = AutoModelForCausalLM.from_pretrained(out / "base")
    rows = read_jsonl(data)
    expected = []
    for start in (0, 2):
        chunk = [r["messages"][:2] for r in rows[start : start + 2]]
        expected += evaluate.generate(tokenizer, plain, chunk, 16)
    assert [a["answer"] for a in json.loads(without.read_text())["answers"]] == expected
    assert figures["runs"] == line["runs"] == 4
    assert figures["adapter"] == str(out) and figures["base"] == str((out / "base").resolve())
    for key in ("kept_share", "cause_match_share", "dropped", "unparsed", "ungrounded_numbers"):
        assert key in figures
    assert figures["fault_runs"] == 4  # faults in turn: slowdown, cpu, memory, errors

    def unreadable(text: str) -> bool:
        answer = evaluate.parse_answer(text)
        return not isinstance(answer, dict) or not isinstance(answer.get("claims"), list)

    assert figures["unparsed"] == sum(unreadable(a["answer"]) for a in figures["answers"])
    assert figures["ungrounded_numbers"] == 0
    assert len(figures["answers"]) == 4


def test_the_tally_grounds_answers_and_matches_causes() -> None:
    rows = read_jsonl_synthetic()
    tally = evaluate.Tally()
    for row in rows:
        bundle = Bundle.from_json(row["bundle"])
        good = target_claims(bundle, row["fault"], row["operation"])
        tally.add(good, bundle, row["fault"])
    perfect = tally.to_json()
    assert perfect["kept_share"] == 1.0 and perfect["dropped"] == {}
    assert perfect["cause_match_share"] == 1.0 and perfect["fault_runs"] == 4

    bundle = Bundle.from_json(rows[0]["bundle"])  # slowdown
    wrong = evaluate.Tally()
    invented = {"text": "p95 rose by 42.5% because of GC", "evidence": ["e1"], "kind": "cause"}
    unknown = {"text": "slow", "evidence": ["e9999"], "kind": "impact"}
    memory = {"text": "memory grew", "evidence": ["e1"], "kind": "cause"}
    wrong.add({"claims": [invented, unknown, memory]}, bundle, "slowdown")
    wrong.add("not json at all", bundle, "slowdown")
    figures = wrong.to_json()
    assert figures["dropped"] == {"literal-number": 1, "unknown-evidence": 1}
    assert figures["claims_proposed"] == 3 and figures["claims_kept"] == 1
    assert figures["unparsed"] == 1 and figures["cause_matched"] == 0


def read_jsonl_synthetic() -> list[dict[str, Any]]:
    from llm.dataset import synthetic_examples

    return list(synthetic_examples(5, seed=9))


def test_answers_are_read_from_harmony_final_channel() -> None:
    harmony = (
        '<|channel|>analysis<|message|>Maybe {"claims": []} is wrong<|end|>'
        '<|start|>assistant<|channel|>final<|message|>{"claims": [{"text": "x", '
        '"evidence": ["e1"], "kind": "impact"}]}<|return|>'
    )
    assert evaluate.parse_answer(harmony)["claims"][0]["text"] == "x"
    assert evaluate.parse_answer('noise {"a": 1} tail') == {"a": 1}
    assert evaluate.parse_answer('{broken {"b": 2}') == {"b": 2}
    assert evaluate.parse_answer("no json") is None
