"""Every commit as an image (issue 19): build it, push it, ask Harbor about it.

- ``image``: ``build_image`` with buildah (layer cache, OCI labels and annotations,
  the failing step of a failed build).
- ``registry``: ``push`` and ``pull_by_digest`` with podman; credentials only in an
  auth file (mode 0600) that is removed afterwards.
- ``harbor``: Harbor's v2.0 API (project exists, the artifact's vulnerability scan)
  and ``scan_verdict``, the gate's decision on a scan.
- ``errors``: what each of them raises.
"""
