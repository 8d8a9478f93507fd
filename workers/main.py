"""Worker process entry point: `python -m workers.main --event-fd N --ack-fd M --config JSON`.

The config (workers.protocol.WorkerConfig, JSON) names the strategy, the engine (its class, "module:Class") and its options, the
scenario, the models, the first iteration index and how many iterations to run. Every request
takes the config's `audio` (and `transcript`), unless it has `inputs`: a list with one entry
per request, iteration i taking entry i - 1 (`{"audio", "transcript" or "transcript_file"}`),
so one long-lived `restart` worker transcribes many files after one load (`orch transcribe`).
The events are the same either way (workers/protocol.py). Any failure becomes an `error` event
before the worker exits non-zero; a native crash kills the process and the parent reads the
signal from its exit status.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from workers import engine_program, fresh_process, protocol, recreate, restart, serve
from workers.channel import Channel
from workers.engines.base import EngineError
from workers.loop import Session

# the worker side of orchestrator/run/strategies.py's registry (same names, same order; a test
# checks): the worker never imports the parent's code, only workers.protocol is shared
STRATEGIES = {
    "restart": restart.run,
    "recreate": recreate.run,
    "recreate-destroy": recreate.run,
    "fresh-process": fresh_process.run,
    "cli": engine_program.run,
    "cli-interactive": engine_program.run_interactive,
}

EXIT_ERROR = 3


def make_engine(target: str, options: dict):
    """The engine class the parent names ("module:Class", its engine registry's `worker`)."""
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(options)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="orch-worker")
    ap.add_argument("--event-fd", type=int, required=True)
    ap.add_argument("--ack-fd", type=int, required=True)
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    ch = Channel(args.event_fd, args.ack_fd)
    try:
        cfg = protocol.WorkerConfig.from_json(args.config)
        options = dict(cfg.engine_options)
        # the two honest forms of re-creating a chatllm.cpp model object (see the engine)
        options["destroy_on_unload"] = cfg.strategy == "recreate-destroy"
        engine = make_engine(cfg.engine_class, options)
        ch.send(protocol.Ready(pid=os.getpid(), engine=engine.info()))
        session = Session(ch, engine, cfg)
        if cfg.serve:  # orch load: requests come from the parent (protocol v3)
            serve.run(session, cfg.strategy)
        else:
            STRATEGIES[cfg.strategy](session, cfg.first_i, cfg.iters)
        session.idle()
        ch.send(protocol.Done(notes=tuple(session.notes)))
        return 0
    except EngineError as exc:
        ch.send(protocol.Error(kind=exc.kind, message=str(exc), traceback=""))
    except engine_program.EngineCrashed as exc:
        ch.send(protocol.Error(kind="engine_crashed", message=str(exc), traceback=""))
    except Exception as exc:  # anything else is reported, never swallowed
        tb = traceback.format_exc()
        ch.send(protocol.Error(kind=type(exc).__name__, message=str(exc), traceback=tb[-2000:]))
    return EXIT_ERROR


if __name__ == "__main__":
    # A normal exit on purpose: if an engine's teardown hangs or aborts after the work is
    # done, the parent sees it and reports it as a finding (it is one).
    sys.exit(main())
