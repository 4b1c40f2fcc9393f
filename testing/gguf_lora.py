"""A seeded random LoRA adapter in GGUF form, for a GGUF model read from its file.

llama.cpp's server applies a LoRA adapter given as GGUF (``--lora FILE:SCALE``):
general.type ``adapter``, ``adapter.type`` ``lora``, ``adapter.lora.alpha``, and for
each adapted weight ``W`` (ggml shape ``[n_in, n_out]``) the tensors
``W.lora_a`` (``[n_in, rank]``) and ``W.lora_b`` (``[rank, n_out]``). The adapter
here touches the attention's query and value projections of every block, with
small random values: enough to change what the model writes, which shows that
the server applied it. Needs the ``gguf`` package (numpy).
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

TARGETS = ("attn_q", "attn_v")


def write_random_lora(
    model: Path, out: Path, rank: int = 4, seed: int = 0, scale: float = 0.05
) -> Path:
    """``out``: a LoRA adapter for ``model`` (a GGUF file) of ``rank``, values drawn
    from N(0, ``scale``) with ``seed``. Raises ValueError when the model has none of
    the ``TARGETS`` weights."""
    reader = gguf.GGUFReader(str(model))
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    shapes = {
        t.name: (int(t.shape[0]), int(t.shape[1]))
        for t in reader.tensors
        if t.name.endswith(".weight") and t.name.split(".")[-2] in TARGETS
    }
    if not shapes:
        raise ValueError(f"{model} has no {', '.join(TARGETS)} weights")
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))
    writer.add_name("plog-test-lora")
    for name, (n_in, n_out) in sorted(shapes.items()):
        # numpy's shape is ggml's reversed
        a = rng.normal(0, scale, (rank, n_in)).astype(np.float32)
        b = rng.normal(0, scale, (n_out, rank)).astype(np.float32)
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
