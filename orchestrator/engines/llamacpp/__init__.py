"""llama.cpp parent side: its options, where its programs are (llama-server, llama-mtmd-cli,
llama-quantize), GGUF test models made by llama.cpp's own converter from orch's seeded folder,
doctor rows, pre-flight and plan hook (docs/llamacpp.md)."""
