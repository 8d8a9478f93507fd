"""Running strategies: the plan and its inputs (plan, plan_inputs), the checks before a worker
starts (preflight, audio), spawning workers (worker_process, worker_env), events to records
(worker_events, record_builder, record_sink), the observer (sampler, procfs, hostinfo), the
memory guard, the strategy registry (strategies) and a whole run (strategy_runner, runner).

May import: results, quality, engines (and errors); never commands, studies or history.
run and history are independent of each other (the history reads finished results; the
running side stores nothing itself): import-linter checks both (pyproject.toml)."""
