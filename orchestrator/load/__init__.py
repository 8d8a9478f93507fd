"""orch load: an engine x strategy driven as a small service. N long-lived workers (each its
own process), a dispatcher with one queue in the parent, and a load generator that sends
requests at scheduled times (open loop) or keeps a number in flight (closed loop); per
request and per level, what a user of the service sees (queue wait, TTFT, latency, RTF,
goodput under an SLO, saturation) and what the pool's memory does per thousand requests.

Modules: arrivals (when requests arrive), levels (per-request records, per-level
statistics), queueing (what theory expects a queue to wait), memory (growth per thousand
requests), pool (workers, dispatcher, generator: one level run), server (the same with a
server as the target: client slots, the server's process started and sampled), http_target
(the loopback-only transcription client), sweep (the automatic sweep's levels), audio_list
(the weighted audio mix), length (a level's floor), runner (levels one after another, the sink, the result).

Imports: orchestrator.run (worker process, sampler, memory guard, record sink, audio),
orchestrator.results (analysis' slope fit), orchestrator.errors, workers.protocol. Never
orchestrator.commands, studies or history (commands/load.py is the thin command on top).
"""
