"""``plog cluster reap``: remove the expired namespaces of PLog's Helm jobs.

The worker runs the same reaper between jobs, and PLog's chart runs this command as
a CronJob; by hand it cleans up after workers that are gone. Cluster access comes
from the installation (KUBECONFIG, PLOG_KUBE_CONTEXT, or the pod's service
account), never from plog.yml. Errors go to ``plog_ci.cli`` (exit 4 without
cluster access).
"""

from __future__ import annotations

import click


@click.group("cluster")
def cluster() -> None:
    """Housekeeping on the Kubernetes cluster of deploy.target helm."""


@cluster.command("reap")
def cluster_reap() -> None:
    """Delete PLog's namespaces (label app.kubernetes.io/managed-by=plog) whose
    expiry (label plog.dev/expires-unix) has passed; print each one removed."""
    import time

    from plog_ci.deploy.kube import connect
    from plog_ci.deploy.namespaces import reap_namespaces

    with connect() as api:
        removed = reap_namespaces(api, time.time())
    for name in removed:
        click.echo(f"removed namespace {name}")
    if not removed:
        click.echo("no expired PLog namespace")
