"""orch: the parent side. Plans runs, spawns one worker process per strategy, samples the
workers' memory from outside, analyses and reports."""

__version__ = "0.1.0"
