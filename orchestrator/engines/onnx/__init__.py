"""The onnx engine: Qwen3-ASR on ONNX Runtime through sherpa-onnx's offline recognizer."""
