"""The resource guard stops a worker at a share of a resource's limit, naming the resource."""

from __future__ import annotations

import signal

from orchestrator.run.resource_guard import ResourceGuard, both
from orchestrator.run.sampler import Sample


def _mark(**resources) -> Sample:
    return Sample(0.0, 10.0, 5.0, 5.0, 1.0, 1.0, 0.0, 0.0, 1, resources=dict(resources))


def test_it_trips_at_its_share_of_the_limit_and_kills_the_group_once():
    killed = []
    guard = ResourceGuard(0.9, limits={"fds": 200.0, "maps": 1000.0}, kill=lambda pid, sig: killed.append((pid, sig)))
    guard(_mark(fds=179.0, maps=10.0))  # not watching yet, and under: nothing
    guard.watch(42)
    guard(_mark(fds=179.0, maps=10.0))
    assert guard.tripped is None and killed == []
    guard(_mark(fds=180.0, maps=10.0))
    guard(_mark(fds=190.0, maps=999.0))  # once tripped, never again
    assert killed == [(42, signal.SIGKILL)]
    assert (guard.tripped.resource, guard.tripped.value, guard.tripped.limit) == ("fds", 180.0, 200.0)
    assert guard.message("after iteration 8") == (
        "resource limit: the worker's process tree reached 180 fds after iteration 8, 90% of the limit 200 "
        "(--resource-guard); worker stopped"
    )


def test_a_periodic_sample_has_no_resources_and_is_ignored():
    guard = ResourceGuard(0.5, limits={"threads": 2.0}, kill=lambda pid, sig: None)
    guard.watch(1)
    guard(Sample(0.0, 10.0, None, None, 1.0, None, None, None, 1))
    assert guard.tripped is None


def test_both_calls_every_hook():
    seen = []
    hook = both(lambda s: seen.append("a"), None, lambda s: seen.append("b"))
    assert hook is not None
    hook(_mark())
    assert seen == ["a", "b"] and both(None, None) is None
