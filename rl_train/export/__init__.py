"""A trained policy as one file to run elsewhere: ONNX or TorchScript, checked against SB3."""
