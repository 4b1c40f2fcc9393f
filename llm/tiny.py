"""A tiny randomly initialised model and a byte-level tokenizer, built here: the
training loop's CPU test needs no download.

The tokenizer maps each byte to one token (GPT-2's byte-to-character table via
``tokenizers``' ByteLevel), plus special tokens and a chat template that writes
``<|system|>...<|end|>`` turns; the model is a ``LlamaConfig`` of 2 layers, hidden
size 64. Both are saved with ``save_pretrained`` so the adapter's
``base_model_name_or_path`` points at a folder that loads like any base model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL = ("<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
# Which special token plays which part (a turn ends the answer: generation stops there).
ROLES = {"pad_token": "<|pad|>", "bos_token": "<|bos|>", "eos_token": "<|end|>"}
# The chat template of the tiny tokenizer (Jinja, as transformers renders it).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def byte_tokenizer(corpus: Iterable[str] = (), vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Byte-level BPE: every byte is a token (nothing is ever unknown), plus merges
    learnt from ``corpus`` up to ``vocab_size`` (none without a corpus: one token a
    byte), and the ``SPECIAL`` tokens. Merges make the CPU test's sequences about
    three times shorter."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    texts = list(corpus)
    if texts:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, initial_alphabet=alphabet, special_tokens=list(SPECIAL)
        )
        tok.train_from_iterator(texts, trainer)
    else:
        tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        tok.add_special_tokens(list(SPECIAL))
    tok.decoder = decoders.ByteLevel()
    out = PreTrainedTokenizerFast(tokenizer_object=tok, **ROLES)  # type: ignore[no-untyped-call]
    out.chat_template = CHAT_TEMPLATE
    return out


def tiny_model(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    """A 2-layer Llama, hidden 64, randomly initialised (deterministic for ``seed``)."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def save_tiny_base(folder: Path, corpus: Iterable[str] = (), seed: int = 0) -> Path:
    """Build the tiny tokenizer (merges from ``corpus``) and model and save both in
    ``folder`` (the base model of a ``--tiny`` training run); returns ``folder``."""
    tokenizer = byte_tokenizer(corpus)
    model = tiny_model(len(tokenizer), seed)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.bos_token_id = tokenizer.bos_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
