"""Studies built from runs: A/B (ab), attribution under a native tracer (attribution),
leak vs. allocator retention (retention), the study's experiments (reproduce), the self-test
(selftest, selftest_timing) and the soak (soak).

May import: run, history, results, quality, engines (and errors); never commands.

The soak lives here, not in history/: it drives the runner (run.runner.execute) and re-runs
growing strategies under the tracer (studies.attribution) as well as storing, comparing and
alerting (history.store, baseline, changepoints, prometheus), so it sits above both run and
history. What it hands to history (the cells it ran: history.soak_cell.CellRun) is a plain
record, so the history never imports a study."""
