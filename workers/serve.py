"""Serve mode (orch load): load once, then one request per `request` line from the parent,
until it closes the pipe (protocol version 3). `restart` resets the conversation after each
request and unloads at the end of input (no `after_unload` mark: the pipe is closed); `fresh-process` serves one request and exits (the parent
starts the next process), which is that strategy's unload."""

from __future__ import annotations

from workers.loop import Session

# the strategies a worker can serve with (the parent's orch load offers these)
SERVE_STRATEGIES = ("restart", "fresh-process")


def run(s: Session, strategy: str) -> None:
    if strategy not in SERVE_STRATEGIES:
        raise ValueError(f"strategy {strategy!r} cannot serve (serve mode takes {', '.join(SERVE_STRATEGIES)})")
    model = s.models[0]
    s.load(0, model)
    while True:
        req = s.ch.next_request()
        if req is None:
            break
        s.request(req.i, model, audio=req.audio, marks=False, prefix=req.prefix, offset_s=req.offset_s)
        if strategy == "fresh-process":
            return  # process exit is the unload
        s.engine.restart()
    # end of input: unload without a mark (the parent has closed the pipe an ack would come on)
    s.engine.unload()
