"""Run history (SQLite or PostgreSQL) and what is made from it: the store (store, save), a
soak run's regression checks (baseline) and change points (changepoints), the HTML /
Markdown / CSV report (report, plots), the `orch history` tables (tables), the Prometheus textfile (prometheus), and what a soak
prints of its cells (soak_cell, soak_output; the soak itself is orchestrator/studies/soak.py,
its command orchestrator/commands/soak.py).

May import: results, quality, engines (and errors); never commands, studies or run."""
