"""``/jobs/<id>``: where a commit status and ``git push`` point before the run exists.

JSON (``{id, state, result, summary, head, run_id}``) for API clients; a browser
(``Accept: text/html``) is sent on to the run's page (302) once the job made a run,
and meanwhile gets a page with the job's state that reloads itself every few
seconds (``<meta http-equiv="refresh">``: no script, so the CSP stays strict).
Behind the dashboard's token like every dashboard page.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from plog_ci.queue import Queue
from plog_ci.templating import render
from plog_ci.web.dashboard.negotiation import wants_page

MAX_JOB_ID = 2**63 - 1  # SQLite's largest integer: a larger id in a URL is no job
REFRESH_S = 5


def register(bp: Blueprint) -> None:
    """Add ``/jobs/<id>`` to the dashboard (the app's queue: ``extensions["plog_queue"]``)."""

    @bp.get("/jobs/<int:job_id>")
    def job(job_id: int) -> Response:
        queue: Queue = current_app.extensions["plog_queue"]
        found = queue.get(job_id) if job_id <= MAX_JOB_ID else None
        html = wants_page()
        if found is None:
            if html:
                body = render(
                    "dashboard/error.html.j2", heading="Not found", message=f"no job #{job_id}"
                )
                return Response(body, status=404, content_type="text/html; charset=utf-8")
            response = jsonify({"error": "no such job"})
            response.status_code = 404
            return response
        outcome = found.outcome or {}
        run_id = outcome.get("run_id")
        run_id = run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None
        if not html:
            return jsonify(
                {
                    "id": found.id,
                    "state": found.state,
                    "result": found.result,
                    "summary": found.summary,
                    "head": found.spec.head,
                    "run_id": run_id,
                }
            )
        if run_id is not None:
            moved = Response(status=302)
            moved.headers["Location"] = f"/runs/{run_id}"
            return moved
        body = render(
            "dashboard/job.html.j2",
            job=found,
            refresh_s=REFRESH_S if found.state in ("pending", "running") else None,
        )
        return Response(body, content_type="text/html; charset=utf-8")
