"""Strategy `recreate`: create the model object, run one request, drop it; every iteration,
in one process. With several models (scenario `switch`) each iteration loads, uses and
unloads them in turn. How the object is dropped is the engine's business (chatllm.cpp:
the bindings' way, or an explicit destroy for `recreate-destroy`)."""

from workers.loop import Session


def run(s: Session, first_i: int, iters: int) -> None:
    for i in range(first_i, first_i + iters):
        for model in s.models:
            s.load(i, model)
            s.request(i, model)
            s.unload(i, model)
