"""orch stream: live audio fed in chunks to one long-lived engine worker, paced in real
time (compute-aware) or as fast as it goes (compute-unaware, the lower bound), under a
policy (redecode, window, vad), and what a person watching the captions would see: how soon
the first words appear, how far the text lags, how much shown text is revised, whether the
engine keeps up (docs/streaming.md).

Modules: source (the stream's audio: a file, a folder with pauses, or built from the
samples), units (the text's tokens as the policies count them), vad (Silero or an energy
detector, and the segmenter), policies (what each update asks of the engine and what it
shows), pacing (the loop: an update starts when its audio has arrived and the previous one
has finished), worker (one serving worker started from the run plan's worker config),
figures (pure functions over the updates), display (the terminal and the JSONL events),
session (the whole stream: worker, loop, figures, result JSON).

Imports: orchestrator.run (the plan's worker config, audio), orchestrator.load (the serving
worker slot), orchestrator.quality (the streaming penalty's score), workers.protocol. Never
commands, studies or history.
"""
