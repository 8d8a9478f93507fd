"""orch: the child side. Each worker process runs one strategy's loop on one engine and
streams events to the parent over a pipe (see workers.protocol). Nothing here measures
its own memory: the parent does that from outside."""
