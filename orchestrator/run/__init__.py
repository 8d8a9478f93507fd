"""Running strategies: the plan, pre-flight, spawning workers, events to records, the observer (sampler, /proc), the memory guard."""
