"""The two kinds of failure in feature mapping: a bad message (counted) and a bad feature map (fatal).

A node meets bad messages at runtime and must keep running, so those errors carry a short stable
`reason` key to count on /diagnostics and in the SyncReport; a bad feature map is a configuration
mistake found at startup, reported once with the file and the offending key.
"""
from __future__ import annotations


class ExtractionError(ValueError):
    """A message that cannot become the value of a feature.

    `reason` is a short stable key (missing_joint, non_finite, wrong_size, out_of_order, ...) that
    nodes count; the text says which feature, joint or field was wrong.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class FeatureMapError(ValueError):
    """A feature map (config/features/*.yaml) that is malformed or inconsistent."""
