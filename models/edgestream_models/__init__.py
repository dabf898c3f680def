"""Training, labels, FEFF generation and ONNX export (the ``training`` extra)."""
