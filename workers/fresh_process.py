"""Strategy `fresh-process`: this whole process serves one iteration and exits; the parent
starts a new one for the next. Nothing is unloaded: process exit is the unload, and the
parent sees memory come back as the process disappears."""

from workers.loop import Session


def run(s: Session, first_i: int, iters: int) -> None:
    for i in range(first_i, first_i + iters):  # the parent passes iters=1
        for model in s.models:
            s.load(i, model)
            s.request(i, model)
