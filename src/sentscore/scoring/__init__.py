"""Scoring a trained folder: the ``Scorer``, the torch and ONNX backends, worker processes, explanations and the
ONNX export."""
