"""The exported policy files: write an ONNX or TorchScript file with rl-train's metadata in
it, and load either back as a function from a batch of flat observations to actions.

Loading an ONNX file needs only numpy and onnxruntime (no torch: what runs on a robot's
computer); a TorchScript file needs torch only. The metadata travels inside the file (ONNX
metadata_props, a TorchScript extra file) under one key, as JSON: a file is never
separated from what it was trained on.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rl_train.errors import UserError

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
# What a file must pass before it is written (export/exporter.py): SB3's action to within
# TOLERANCE on at least CHECK_OBSERVATIONS observations from real episodes.
CHECK_OBSERVATIONS = 1000
TOLERANCE = 1e-5
METADATA_KEY = "rl_train"  # ONNX metadata_props key / TorchScript extra file name
INPUT_NAME = "observation"
OUTPUT_NAME = "action"


def format_of(path: Path) -> str | None:
    """The format a file name says (.onnx, .pt / .ts), or None."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in (".pt", ".ts"):
        return "torchscript"
    return None


def write_onnx(module, observation_size: int, path: Path, metadata: dict[str, Any]) -> None:
    """`module` as one self-contained ONNX file (batch size free), metadata included."""
    import logging

    import onnx
    import torch as th

    example = th.zeros(2, observation_size, dtype=th.float32)
    batch = th.export.Dim("batch")
    # The exporter's notes (missing torchvision, its own deprecations) are not the user's.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        program = th.onnx.export(
            module,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
    model = program.model_proto
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata)})
    onnx.save_model(model, str(path), save_as_external_data=False)


def write_torchscript(module, observation_size: int, path: Path, metadata: dict[str, Any]):
    import torch as th

    example = th.zeros(2, observation_size, dtype=th.float32)
    with th.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = th.jit.trace(module, example)
    traced.save(str(path), _extra_files={METADATA_KEY: json.dumps(metadata)})


WRITERS = {"onnx": write_onnx, "torchscript": write_torchscript}


def flat_observations(observations, keys: list) -> np.ndarray:
    """A batch of observations as the file takes them, [batch, n] float32: a Dict's parts
    concatenated in the order of `keys` ((key, size) pairs; [("", n)] for a Box)."""
    if isinstance(observations, dict):
        parts = [np.asarray(observations[key], dtype=np.float32) for key, _ in keys]
        return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
    observations = np.asarray(observations, dtype=np.float32)
    return observations.reshape(len(observations), -1)


class ExportedPolicy:
    """An exported file, loaded: act(observations [batch, n]) -> actions [batch, ...]."""

    def __init__(self, path: Path, fmt: str | None = None) -> None:
        self.path = path
        self.format = fmt or format_of(path)
        if not path.is_file():
            raise UserError(f"{path}: no such file; export one with `rl-train export RUN`")
        try:
            if self.format == "onnx":
                self._load_onnx()
            elif self.format == "torchscript":
                self._load_torchscript()
            else:
                raise UserError(
                    f"{path}: not an exported policy (expected a .onnx or .pt file from "
                    "`rl-train export`)"
                )
        except UserError:
            raise
        except ImportError as exc:
            raise UserError(
                f"{path}: {exc.name} is not installed; pip install 'rl-train[export]'"
            ) from None
        except Exception as exc:  # noqa: BLE001 (a damaged file, in either runtime's words)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise UserError(f"{path} is not a readable {self.format} file ({first})") from None
        if self.metadata is None:
            raise UserError(f"{path} was not written by `rl-train export` (no metadata)")

    def _load_onnx(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no notes on stderr
        self._session = onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        text = self._session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        self.metadata = json.loads(text) if text else None
        self._act = lambda obs: self._session.run(None, {INPUT_NAME: obs})[0]

    def _load_torchscript(self) -> None:
        import torch as th

        files = {METADATA_KEY: ""}
        with warnings.catch_warnings():  # torch marks TorchScript deprecated (docs/deploy.md)
            warnings.simplefilter("ignore", DeprecationWarning)
            module = th.jit.load(str(self.path), _extra_files=files, map_location="cpu")
        self.metadata = json.loads(files[METADATA_KEY]) if files[METADATA_KEY] else None

        def act(obs: np.ndarray) -> np.ndarray:
            with th.no_grad():
                return module(th.as_tensor(obs)).numpy()

        self._act = act

    def act(self, observations: np.ndarray) -> np.ndarray:
        return self._act(np.ascontiguousarray(observations, dtype=np.float32))
