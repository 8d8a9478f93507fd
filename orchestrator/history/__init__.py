"""Run history (SQLite or PostgreSQL), reports with plots, and soak runs that alert.

- store: save_run / load_run / list_runs, the schema and its migrations
- commands: `orch history`, `orch report`
- report, plots: the HTML / Markdown / CSV report
- soak, baseline, prometheus: `orch soak`, regression checks, the textfile-collector file
"""
