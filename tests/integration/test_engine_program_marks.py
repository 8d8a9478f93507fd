"""A command-line engine's phase marks taken while no program runs are no measurement: None
in the record, not 0 MB (issue 18 item 14: the report drew `cli`'s before-infer and USS at 0)."""

from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST


def test_marks_without_the_program_are_none(tmp_path):
    plan = RunPlan(strategies=["cli", "cli-interactive"], iters=3, warmup=0, engine="calibration",
                   engine_options=FAST, out_dir=tmp_path, iter_timeout=20)
    by = {r.strategy: r for r in execute(plan).results}
    cli = by["cli"]
    assert cli.status.value == "ok"
    for it in cli.iterations:  # the worker marks before it starts `main` and after it has exited
        assert it.phases["before_infer"].rss_mb is None and it.phases["before_infer"].procs == 1
        assert it.phases["after_infer"].rss_mb is None
        assert it.rss_mb is not None and it.rss_mb > 5  # the program's own peak, from wait4()
    inter = by["cli-interactive"]
    first, last = inter.iterations[0], inter.iterations[-1]
    assert first.phases["before_load"].rss_mb is None  # before the program is started
    assert first.phases["after_load"].rss_mb > 5 and first.phases["after_load"].procs >= 2
    assert last.phases["after_unload"].rss_mb is None  # the program has been waited for
