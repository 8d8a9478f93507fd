"""The result model (model: one versioned JSON map, typed dataclasses; the verdict thresholds),
metrics, statistics (analysis, alignment) and the renderers: run tables and footers (output,
tabular), A/B tables (ab_table), call stacks (stacks), retention probes (retention_probe),
self-test checks (checks), `orch score`'s tables (score_table), progress bars (progress); atomic writes (atomic).

May import: quality, engines (and errors); never commands, studies, run or history."""
