"""Training pairs as token ids: the prompt masked out, the answer learnt.

The prompt is the chat template's rendering of ``[system, user]`` with the generation
prompt; the answer is what the template adds for the assistant's turn (for gpt-oss,
harmony's final channel and its end token), so the adapter learns exactly what the
server's template makes it continue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IGNORE = -100  # the label that the loss skips


@dataclass(frozen=True)
class Encoded:
    """``input_ids`` and ``labels`` of one pair (labels ``IGNORE`` over the prompt)."""

    input_ids: list[int]
    labels: list[int]


def render(tokenizer: Any, messages: Sequence[dict[str, str]], generation: bool) -> str:
    # reasoning_effort: gpt-oss's template writes it into the system turn (low: a
    # short analysis before the answer); templates without it ignore it
    text = tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=generation, reasoning_effort="low"
    )
    return str(text)


def encode(tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int) -> Encoded | None:
    """The pair ``[system, user, assistant]`` as ids; None when it is longer than
    ``max_length`` tokens (cutting it would teach a cut prompt or a cut answer)."""
    prompt = render(tokenizer, messages[:-1], True)
    full = render(tokenizer, messages, False)
    if full.startswith(prompt):
        answer = full[len(prompt) :]
    else:  # a template that renders the history differently once answered
        answer = messages[-1]["content"] + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + len(answer_ids) > max_length:
        return None
    return Encoded([*prompt_ids, *answer_ids], [IGNORE] * len(prompt_ids) + list(answer_ids))


def prompt_ids(tokenizer: Any, messages: Sequence[dict[str, str]]) -> list[int]:
    """The ids the model continues from: ``[system, user]`` and the generation prompt."""
    ids = tokenizer(render(tokenizer, messages, True), add_special_tokens=False)["input_ids"]
    return list(ids)
