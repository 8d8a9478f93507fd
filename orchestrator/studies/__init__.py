"""Studies built from runs: A/B, attribution, retention, the study's experiments (reproduce), selftest, soak."""
