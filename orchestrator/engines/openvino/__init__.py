"""OpenVINO GenAI (ASRPipeline on the CPU plugin), parent side: its model folders, exported from orch's test-model folder."""
