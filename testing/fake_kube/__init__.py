"""A fake Kubernetes API server for tests: real HTTP on 127.0.0.1, checked against the
Kubernetes OpenAPI description (tests/data/kubernetes/swagger.json, release-1.36, cut)
and k6-operator's TestRun CRD, with a simulated control plane.

    from testing.fake_kube import FakeCluster, Rollout
    from kubernetes import client, config

    with FakeCluster(tmp_path) as cluster:      # cluster.url, .token, .kubeconfig
        api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
        api.create_namespace({"metadata": {"name": "plog-x"}})
        cluster.set_rollout(Rollout("crash_loop", logs=("boom",)), deployment="web")
        ...  # helm install / kubernetes client calls
        cluster.settle()                         # control plane caught up
        cluster.objects("Pod", "plog-x")         # stored objects, by name
        cluster.requests                         # every request: method, path, query, code
        assert cluster.errors == []

What it checks: every path and method against the spec (404 NotFound otherwise, 405 for
a known path); query parameters are the operation's (400 for others or a bad integer);
bodies strictly against the definition (unknown fields too) -> 422 Invalid with
``details.causes`` (a real server says 400 BadRequest "strict decoding error" for unknown
fields under fieldValidation=Strict); the bearer token (401). Objects get uid,
resourceVersion, creationTimestamp, generation; errors are kube Status objects
(AlreadyExists 409, NotFound 404, Conflict 409, Forbidden 403 in a terminating namespace).
Helm's SDK works against it: discovery, OpenAPI v3 (converted from the same swagger),
protobuf bodies of Secrets (release storage), server-side apply, watch-list waits.

Control plane: a Deployment gets a ReplicaSet and pods (``<rs>-<hash>``, template labels
plus pod-template-hash); ``Rollout(outcome)`` decides their end: "ready" (Deployment
status complete, so Helm's wait succeeds; ``on_ready(hook)`` runs first), "image_pull"
(ImagePullBackOff, Failed events), "crash_loop" (CrashLoopBackOff, restartCount,
lastState, BackOff event, ``logs``), "never_ready" (Unhealthy readiness events). A
TestRun goes initialization -> initialized -> created (N runner pods) -> started ->
``on_testrun(hook)`` -> finished | error. Deleting a namespace: Terminating for
``namespace_delete_delay`` s, then it and its content are gone; deleting an owner
removes what it owns. The cluster starts with the namespaces default, kube-system,
kube-public and kube-node-lease. Not simulated: a deleted pod is not replaced, HPAs do not
scale, Services get no endpoints; ``url`` is https with a throwaway CA
(``certificates.ca``), since client-go sends bearer tokens only over TLS.
"""

from testing.fake_kube.cluster import FakeCluster
from testing.fake_kube.kubelet import Rollout

__all__ = ["FakeCluster", "Rollout"]
