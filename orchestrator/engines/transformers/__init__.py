"""transformers (PyTorch on CPU), parent side: its model folders, made from orch's test-model folder."""
