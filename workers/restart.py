"""Strategy `restart`: load once, `restart()` between requests, unload at the end."""

from workers.loop import Session


def run(s: Session, first_i: int, iters: int) -> None:
    model = s.models[0]
    s.load(first_i, model)
    for i in range(first_i, first_i + iters):
        s.request(i, model)
        s.engine.restart()
    s.unload(first_i + iters - 1, model)
