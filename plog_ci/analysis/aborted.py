"""A load test that k6 stopped early fails the run, with when and why.

k6 stops a test early when a threshold with ``abortOnFail`` is crossed (PLog
always sets one on the error rate: ``plog_ci.loadgen.thresholds``). What ran is
then not the test that was asked for, so the run cannot pass on it: the abort
becomes a failed built-in gate, and the report and the stored verdict say after
how many seconds and why.
"""

from __future__ import annotations

from plog_ci.analysis.gates import GateOutcome, Verdict
from plog_ci.gate_grammar import Gate

RAN_TO_END = Gate("the load test ran to its end", "duration", ">", 0.0, key=True)


def aborted_verdict(verdict: Verdict, reason: str, after_s: float) -> Verdict:
    """``verdict`` with the abort as a failed ``RAN_TO_END`` outcome: status ``fail``.

    ``reason``: why k6 stopped (``plog_ci.runner.k6.aborted_reason``); ``after_s``:
    the seconds it ran.
    """
    detail = f"aborted after {after_s:.1f} s: {reason}"
    outcome = GateOutcome(RAN_TO_END, "*", after_s, False, detail)
    return Verdict("fail", (*verdict.outcomes, outcome), f"the load test was {detail}")
