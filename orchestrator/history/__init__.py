"""Run history (SQLite or PostgreSQL), reports with plots, and what soak runs store and alert
with (the soak command and its runs are orchestrator/studies/soak.py).

- store: save_run / load_run / list_runs, the schema and its migrations
- commands: `orch history`, `orch report`
- report, plots: the HTML / Markdown / CSV report
- save: storing a `run` / `compare` result (a database problem is a warning there)
- baseline, prometheus: a soak run's regression checks, the textfile-collector file
"""
