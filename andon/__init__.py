"""Andon and takt system: takt against actual for every interval of every shift."""

__version__ = "0.1.0"
