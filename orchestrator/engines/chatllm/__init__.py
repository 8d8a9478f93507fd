"""chatllm.cpp, parent side: where its files are, its model files' header, its test models."""
