"""A/B orchestration: the base and the head of a change measured against each other.

``measure`` deploys and loads (side by side when it can); ``interleaved`` and
``duet`` are the two side-by-side designs; ``baseline`` decides what the head is
compared with (the paired blocks, or stored runs by the ``compare.baseline``
policy).
"""
