"""The model side of PLog's AI narrative (issue 20): the LoRA recipe for the report
model (``llm.dataset``, ``llm.train``, ``llm.evaluate``) and, in ``llm/serve``, the
vLLM serving configuration that ``report.ai`` talks to.

Not shipped in PLog's wheel: it needs the ``llm`` extra (torch, transformers, peft,
accelerate) and, for real training, a GPU.
"""
