"""PLog's Helm charts, shipped inside the package as ``plog_ci.charts`` (data only:
``plog_ci.deploy.charts`` gives their paths)."""
