"""How a job runs: what a runner returns, and the defaults the worker uses.

``runner(job, home) -> outcome``: the outcome has ``status``, ``summary``,
``profile``, ``report_markdown`` (``plog_ci.pipeline.RunOutcome`` fits). The
default runner (``pipeline_runner``) fetches the job's repository into a mirror
under the state directory, only after its ``clone_url`` passes the worker's
``SourcePolicy``, finds the base from git, and calls ``plog_ci.pipeline.run``.
``default_forge`` posts to the forge the job came from, its token going only to
the configured API URL.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from plog_ci import gitrepo
from plog_ci.dashboard_link import run_url
from plog_ci.errors import DependencyError, InputError, PlogError
from plog_ci.forge import Forge, Report
from plog_ci.forge.sources import GITHUB_API, SourcePolicy, api_url_allowed
from plog_ci.jobs import Job, JobSpec
from plog_ci.proc import ProcessError

log = logging.getLogger("plog.worker")


class Outcome(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def profile(self) -> str: ...
    @property
    def report_markdown(self) -> str: ...


@dataclass(frozen=True)
class JobOutcome:
    status: str
    summary: str
    profile: str = "load"
    report_markdown: str = ""
    report_path: Path | None = None
    run_id: int | None = None


JobRunner = Callable[[Job, Path], Outcome]
ForgeFactory = Callable[[Job], Forge]
ProfileFinder = Callable[[Job, Path], str]


def mirror_path(home: Path, clone_url: str) -> Path:
    digest = hashlib.sha256(clone_url.encode()).hexdigest()[:16]
    return home / "mirrors" / f"{digest}.git"


def policy_for(spec: JobSpec, sources: SourcePolicy | None) -> SourcePolicy:
    """The worker's policy for this job (the environment's when none is given)."""
    policy = sources if sources is not None else SourcePolicy.from_env()
    return policy.with_forge_default(spec.forge)


def local_repo(job: Job, home: Path, *, sources: SourcePolicy | None = None) -> Path:
    """The repository to test: the local one, or a mirror fetched from the forge.

    The URL is checked (``SourceRefused``) before git runs, and git runs with
    that protocol only, no redirects and the checked addresses pinned.
    """
    spec = job.spec
    if not spec.clone_url:
        return Path(spec.repo)
    checked = policy_for(spec, sources).check(spec.clone_url)
    mirror = mirror_path(home, checked.url)
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        gitrepo.git(
            ("init", "--quiet", "--bare", "--end-of-options", str(mirror)), cwd=mirror.parent
        )
    config = checked.git_config()

    def fetch(*refspecs: str) -> None:
        gitrepo.git(
            (*config, "fetch", "--quiet", "--no-tags", "--end-of-options", checked.url, *refspecs),
            cwd=mirror,
            timeout=600,
        )

    try:
        fetch("+refs/heads/*:refs/heads/*")
    except ProcessError as exc:
        raise DependencyError(
            f"could not fetch {checked.url[:200]}: {exc.output.strip()[-300:]}",
            hint="check that the forge is up and the repository exists",
        ) from None
    if spec.pr_number is not None:
        number = int(spec.pr_number)
        try:
            fetch(f"+refs/pull/{number}/head:refs/pull/{number}")
        except ProcessError:
            raise InputError(
                f"pull request {number}: the repository has no refs/pull/{number}/head",
                hint="the forge keeps each pull request's head there; was the pull request "
                "deleted, or is this not a GitHub/Gitea repository?",
            ) from None
    return mirror


def effective_base(repo: Path, spec: JobSpec) -> str | None:
    """The base to compare with, checked against git rather than trusted from the payload.

    A push's ``before`` that is missing from the fetched history or is not an
    ancestor of the head (a force push: Gitea sends no ``forced`` field) is
    replaced by the merge base of the two, else the head's parent. A pull
    request's base that is missing is replaced by the head's parent.
    """
    if spec.base is None:
        return None
    git = gitrepo.GitRepo(repo)
    try:
        head = git.resolve(spec.head)
    except InputError:
        return spec.base  # the pipeline reports the missing head itself
    try:
        base = git.resolve(spec.base)
    except InputError:
        base = None
    if base is not None:
        merge_base = git.merge_base(base, head)
        if spec.kind == "pull_request" or merge_base == base:
            return base
        if merge_base is not None and merge_base != head:
            return merge_base
    return git.parent(head)


def printable_branch(branch: str | None) -> str | None:
    """A branch name as text: bytes that are not UTF-8 are written as \\xNN escapes."""
    if branch is None:
        return None
    raw = branch.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


def forks_allowed(repo: Path, base: str | None) -> bool:
    """Whether plog.yml on the base branch lets pull requests from forks run.

    Reads ``allow_forks`` from the parsed config (absent: not allowed).
    """
    if base is None:
        return False
    from plog_ci.config import parse_config

    try:
        cfg = parse_config(gitrepo.GitRepo(repo).read(base, "plog.yml"))
    except PlogError:
        return False
    return bool(getattr(cfg, "allow_forks", False))


def pipeline_runner(
    job: Job,
    home: Path,
    *,
    sources: SourcePolicy | None = None,
    dashboard_url: str | None = None,
    forge_factory: ForgeFactory | None = None,
) -> Outcome:
    """Run the real pipeline (imported late: the worker starts without it);
    ``dashboard_url``: the dashboard's base URL, for the report's link to the run.

    With ``report.ai`` the verdict is posted here first (``forge_factory``'s forge,
    default ``default_forge``; with no pull request number, so a REST forge posts
    the status alone), then the narrative is requested, bounded by its timeout: the
    outcome returned carries the report with the AI analysis, which the worker
    posts (status again, and the pull request's comment or the git note)."""
    spec = job.spec
    repo = local_repo(job, home, sources=sources)
    if spec.fork and not forks_allowed(repo, spec.base):
        return JobOutcome(
            "cancelled", "pull requests from forks are not enabled in plog.yml on the base branch"
        )
    # Imported here, not at the top: the worker and its tests start without the
    # pipeline's statistics stack (scipy, numpy).
    from plog_ci.pipeline import RunRequest, run

    request = RunRequest(
        repo=repo,
        head=spec.head,
        base=effective_base(repo, spec),
        branch=printable_branch(spec.branch),
        pr_number=spec.pr_number,
        home=home,
        allow_secrets=spec.allow_secrets and not spec.fork,
        dashboard_url=dashboard_url,
        repository=spec.forge_repo,
    )
    outcome = run(request)
    if getattr(outcome, "narration", None) is None:  # a stand-in run may return less
        return outcome
    factory = forge_factory or (lambda j: default_forge(j, sources=sources))
    post_verdict_first(job, outcome, factory, dashboard_url)
    from plog_ci.report.narration import narrate

    narrated: Outcome = narrate(outcome)
    return narrated


def post_verdict_first(
    job: Job, outcome: Outcome, forge_factory: ForgeFactory, dashboard_url: str | None
) -> None:
    """Post the final status before anything that may take long (the narrative);
    a failure is logged: the worker posts the verdict again after the job."""
    base = dashboard_url.rstrip("/") if dashboard_url else None
    target = run_url(base, getattr(outcome, "run_id", None)) or (
        f"{base}/jobs/{job.id}" if base else None
    )
    report = Report(
        result=outcome.status,
        profile=outcome.profile,
        summary=outcome.summary,
        markdown=outcome.report_markdown,
        head=job.spec.head,
        target_url=target,
        branch=job.spec.branch,
        pr_number=None,  # the comment waits for the narrative
        job_id=job.id,
    )
    try:
        forge = forge_factory(job)
        forge.publish(report)
    except Exception as exc:  # the worker's own publish retries it
        log.warning("job %s: could not post the verdict before the narrative: %s", job.id, exc)
        return
    close = getattr(forge, "close", None)
    if callable(close):
        close()


def profile_from_config(job: Job, home: Path, *, sources: SourcePolicy | None = None) -> str:
    """The load profile named in plog.yml at the head (for the status context)."""
    try:
        from plog_ci.config import parse_config

        repo = local_repo(job, home, sources=sources)
        cfg = parse_config(gitrepo.GitRepo(repo).read(job.spec.head, "plog.yml"))
        return str(cfg.load.profile)
    except PlogError:
        return "load"


def forge_api_url(spec: JobSpec, *, sources: SourcePolicy | None = None) -> str | None:
    """Where this job's token may go: the configured API URL; else GitHub's for GitHub;
    the job's recorded ``forge_url`` only when its host is an allowed forge host."""
    policy = sources if sources is not None else SourcePolicy.from_env()
    if policy.api_url:
        return policy.api_url
    recorded = spec.forge_url
    if recorded:
        from urllib.parse import urlsplit

        allowed = policy_for(spec, policy)
        host = urlsplit(recorded).netloc.rpartition("@")[2].lower()
        why = api_url_allowed(recorded, allow_http_loopback=allowed.allow_http_loopback)
        if why is None and (
            host in {h.lower() for h in allowed.hosts}
            or (spec.forge == "github" and recorded.rstrip("/") == GITHUB_API)
        ):
            return recorded
        raise InputError(
            f"job {spec.forge_repo or spec.repo}: API URL {recorded[:200]!r} is not configured "
            "for this worker; no token is sent there",
            hint="start plog worker with --api-url (PLOG_FORGE_API_URL)",
        )
    if spec.forge == "gitea":
        raise InputError(
            "no Gitea API URL configured for this worker; no token is sent",
            hint="start plog worker with --api-url (PLOG_FORGE_API_URL)",
        )
    return None


def default_forge(job: Job, *, sources: SourcePolicy | None = None) -> Forge:
    spec = job.spec
    if spec.forge == "local":
        from plog_ci.forge.local import LocalForge

        return LocalForge(spec.repo)
    from plog_ci.forge.rest import RestForge

    return RestForge(
        spec.forge,
        spec.forge_repo or spec.repo,
        api_url=forge_api_url(spec, sources=sources),
    )
