"""ONNX flavor: an ``onnx.ModelProto`` (or its serialized bytes) run with ONNX Runtime on CPU;
the first input is fed and the first output returned."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from setpoint.core.errors import InvalidArgumentError

NAME = "onnx"
DESCRIPTION = "onnx.ModelProto or its serialized bytes"
PACKAGES = ("onnx", "onnxruntime")
FILE = "model.onnx"
# ONNX Runtime's names for tensor element types, as numpy dtypes; anything else gets float32.
DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}


def handles(model: object) -> bool:
    if isinstance(model, bytes | bytearray):
        return True  # bytes cannot predict, so no other flavor could take them; save checks
    onnx = sys.modules.get("onnx")
    return onnx is not None and isinstance(model, onnx.ModelProto)


def save(model: Any, folder: str) -> dict[str, Any]:
    import onnx

    if isinstance(model, bytes | bytearray):
        try:
            model = onnx.load_model_from_string(bytes(model))
        except Exception as exc:  # protobuf raises its own DecodeError
            raise InvalidArgumentError(
                f"the bytes are not an ONNX model: {exc}", field="model"
            ) from exc
    graph = model.graph
    if not graph.input or not graph.output:
        raise InvalidArgumentError("the ONNX model has no inputs or no outputs", field="model")
    with open(os.path.join(folder, FILE), "wb") as f:
        # Map fields in a fixed order: the same model gives the same bytes, so the same digest.
        f.write(model.SerializeToString(deterministic=True))
    return {
        "file": FILE,
        "class": "onnx.ModelProto",
        "inputs": [i.name for i in graph.input],
        "outputs": [o.name for o in graph.output],
        "opsets": {op.domain or "ai.onnx": op.version for op in model.opset_import},
    }


def load(folder: str, meta: Mapping[str, Any], **options: Any) -> OnnxPredictor:
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(
        os.path.join(folder, str(meta["file"])), providers=["CPUExecutionProvider"]
    )
    first = session.get_inputs()[0]
    return OnnxPredictor(
        native=session,
        input_name=first.name,
        output_name=session.get_outputs()[0].name,
        dtype=np.dtype(DTYPES.get(first.type, "float32")),
    )


@dataclass(frozen=True, kw_only=True)
class OnnxPredictor:
    native: Any  # the onnxruntime InferenceSession
    input_name: str
    output_name: str
    dtype: Any  # numpy dtype the first input takes

    has_proba = False

    def predict(self, X: Any) -> Any:
        import numpy as np

        # A table becomes one 2-D matrix of its columns in order; an array of another
        # number type (float64 for a float32 model, the usual numpy default) is cast, as a
        # table's columns are: the session refuses any other type.
        array = X if isinstance(X, np.ndarray) else X.to_numpy(dtype=self.dtype)
        if array.dtype != self.dtype and (
            (self.dtype.kind == "f" and array.dtype.kind in "biuf")
            or (self.dtype.kind in "iu" and array.dtype.kind in "biu")  # never floats to ints
        ):
            array = array.astype(self.dtype)
        return self.native.run([self.output_name], {self.input_name: array})[0]

    def predict_proba(self, X: Any) -> Any:
        raise InvalidArgumentError("the onnx flavor gives no probabilities", field="model")
