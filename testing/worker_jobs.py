"""Small real job functions and forges for worker tests (also run as worker subprocesses:
``python testing/worker_jobs.py HOME LOG LEASE_S``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from plog_ci.forge import Report
from plog_ci.job_runner import JobOutcome
from plog_ci.queue import Job


def sleepy_runner(job: Job, home: Path) -> JobOutcome:
    """Sleeps like a load test, and leaves a trace of every start."""
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / str(job.id), "a") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("PLOG_TEST_JOB_SECONDS", "0.3")))
    return JobOutcome("pass", f"p95 {job.id}ms", "load", f"# Report for job {job.id}\n")


class RecordingForge:
    """Appends every status it is asked to post to a JSON-lines file."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def _write(self, kind: str, report: Report) -> None:
        with open(self.log, "a") as fh:
            fh.write(
                json.dumps(
                    {
                        "kind": kind,
                        "job": report.job_id,
                        "state": report.state,
                        "result": report.result,
                        "head": report.head,
                        "target_url": report.target_url,
                    }
                )
                + "\n"
            )

    def pending(self, report: Report) -> None:
        self._write("pending", report)

    def publish(self, report: Report) -> None:
        self._write("final", report)


def records(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


class RecordingLocalForge(RecordingForge):
    """Records, then writes the real git note and report (LocalForge)."""

    def publish(self, report: Report) -> None:
        from plog_ci.forge.local import LocalForge

        super().publish(report)
        LocalForge(self.repo).publish(report)

    def __init__(self, log: Path, repo: str) -> None:
        super().__init__(log)
        self.repo = repo


def worker_main(home: str, log: str, lease_s: float) -> None:
    """A worker process for the SIGKILL tests and the benchmark."""
    from plog_ci.worker import Worker

    worker = Worker(
        Path(home),
        runner=sleepy_runner,
        forge_factory=lambda job: RecordingLocalForge(Path(log), job.spec.repo),
        profile_for=lambda job, home: "load",
        lease_s=lease_s,
        poll_s=0.05,
    )
    worker.run_forever()


if __name__ == "__main__":
    import sys

    worker_main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
