"""Command-line twin of the calibration engine, for the `cli` and `cli-interactive`
strategies. It behaves like chatllm.cpp's `main`: loads, streams the output to stdout
as it is produced, exits. It also says on stderr when its model is loaded, so the harness
can stamp the request then (chatllm.cpp's `main` gives no such mark; see workers/engine_program.py).

    python -m workers.engines.calibration_cli [-m NAME[:MB]] [-p AUDIO] [--iteration I] [options]
    python -m workers.engines.calibration_cli -i ...   # reads one audio path per line
"""

import argparse
import sys

from workers.engines.base import Request
from workers.engines.calibration import OPTIONS, CalibrationModel


def main(argv=None):
    ap = argparse.ArgumentParser(prog="calibration_cli", description=__doc__)
    ap.add_argument("-m", "--model")
    ap.add_argument("-p", "--prompt", help="audio path (not read: calibration)")
    ap.add_argument("--align", help="transcript to align (synthetic aligner output)")
    ap.add_argument("--iteration", type=int, default=1, help="the (first) request's iteration")
    ap.add_argument("-i", "--interactive", action="store_true")
    # the engine's invocation passes every option that is not None (no defaults here)
    for key, kind in OPTIONS.items():
        ap.add_argument("--" + key.replace("_", "-"), dest=key, type=str if kind is list else kind, default=None)
    ap.add_argument("--decoding", default="greedy")  # given beside the options (greedy | sampled)
    args = ap.parse_args(argv)
    options = {**{k: getattr(args, k) for k in OPTIONS}, "decoding": args.decoding}
    if isinstance(options["leak_models"], str):
        options["leak_models"] = options["leak_models"].split(",")

    model = CalibrationModel(options)
    model.load(args.model)
    print("calibration: model loaded", file=sys.stderr, flush=True)

    def emit(chunk):
        sys.stdout.write(chunk)
        sys.stdout.flush()

    if not args.interactive:
        model.generate(Request(i=args.iteration, audio=args.prompt, transcript=args.align), emit)
        sys.stdout.write("\n")
        return 0
    i = args.iteration - 1  # the first request's iteration is --iteration
    while True:
        sys.stdout.write("File > ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        i += 1
        model.generate(Request(i=i, audio=line.strip()), emit)
        sys.stdout.write("\n")
    sys.stdout.write("Bye\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
