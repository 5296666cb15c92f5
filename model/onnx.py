"""ONNX Runtime scoring of the transformer valuer's net (``cpu_precision="onnx"`` / ``"onnx-int8"``).

The fp32 :class:`model.transformer` net is exported once per valuer (``torch.onnx.export``, TorchScript
exporter, opset 17, dynamic batch and length) into a temporary file, loaded into an ``onnxruntime``
``InferenceSession`` (CPU provider, all graph optimisations: attention, GELU and LayerNorm fusions, one intra-op
thread per usable core) and wrapped so that it is called like the torch net. ``"onnx-int8"`` additionally
quantises the MatMul weights to int8 (``onnxruntime.quantization.quantize_dynamic``, per-channel).

Measured by ``gbv bench scoring`` on this project's 2-core CPU: no faster than torch fp32 and slower than torch bf16
on AMX, so it is an option, never the default. Needs the PyPI packages ``onnx`` and ``onnxruntime``.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

INPUTS = ("ids", "mask", "num", "cat")


class OrtNet:
    """An ``onnxruntime`` session called like the torch net: ``net(ids, mask, num, cat) -> tensor [n, 3]``."""

    training = False

    def __init__(self, session):  # noqa: ANN001
        self.session = session

    def eval(self) -> OrtNet:
        return self

    def train(self, mode: bool = True) -> OrtNet:  # noqa: ARG002 - an inference session has no training mode
        return self

    def __call__(self, ids, mask, num, cat):  # noqa: ANN001, ANN204 - torch tensors in, a torch tensor out
        import torch

        feed = {"ids": ids.numpy(), "mask": mask.numpy(), "num": np.ascontiguousarray(num.numpy(), np.float32),
                "cat": cat.numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0])


def export_onnx(net, path: Path, n_numeric: int, n_cat: int) -> Path:  # noqa: ANN001
    """Write ``net`` (fp32, CPU) as an ONNX graph with dynamic batch and sequence axes."""
    import torch

    ids = torch.full((2, 8), 101, dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    num = torch.zeros((2, n_numeric), dtype=torch.float32)
    cat = torch.zeros((2, n_cat), dtype=torch.int64)
    axes = {"ids": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}, "num": {0: "batch"},
            "cat": {0: "batch"}, "q": {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (ids, mask, num, cat), str(path), dynamo=False, opset_version=17,
                          input_names=list(INPUTS), output_names=["q"], dynamic_axes=axes)
    return path


def ort_net(net, n_numeric: int, n_cat: int, threads: int, int8: bool = False) -> OrtNet:  # noqa: ANN001
    """Export ``net`` and open it in ONNX Runtime (optionally with int8 MatMul weights)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="gbv-onnx-") as tmp:
        path = export_onnx(net, Path(tmp) / "net.onnx", n_numeric, n_cat)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            q_path = Path(tmp) / "net.int8.onnx"
            quantize_dynamic(str(path), str(q_path), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
            path = q_path
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return OrtNet(session)
