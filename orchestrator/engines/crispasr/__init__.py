"""CrispASR (PyPI `crispasr`, ggml) parent side: its options, GGUF model files made from orch's
test-model folder by CrispASR's own converter, doctor rows, pre-flight and plan hook."""
