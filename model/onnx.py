"""ONNX Runtime scoring of the transformer valuer's text encoder (``cpu_precision="onnx"`` / ``"onnx-int8"``).

Only the text side goes to ONNX: the encoder with its mean pooling (``ValuationNet.embed_text``: token ids and
mask -> the pooled vector) is exported once per valuer (``torch.onnx.export``, TorchScript exporter, opset 17,
dynamic batch and length) into a temporary file and loaded into an ``onnxruntime`` ``InferenceSession`` (CPU
provider, all graph optimisations: attention, GELU and LayerNorm fusions, one intra-op thread per usable core).
``"onnx-int8"`` additionally quantises the MatMul weights to int8 (``onnxruntime.quantization.quantize_dynamic``,
per-channel). The fusion head (``ValuationNet.fuse``) stays the fp32 torch module, so scoring is split where the
pooled text meets the tabular signals exactly as in torch, and the text-embedding cache works the same way (its
namespace names the precision, so ONNX vectors are never mixed with torch ones).

Measured by ``gbv bench scoring``: on a CPU without AMX, int8 ONNX Runtime is the fastest CPU path (1.6x torch
fp32 for the 6-layer encoder, 1.6x for a 2-layer one), with log predictions within a few hundredths of fp32; on
AMX CPUs torch bf16 is faster. Needs the PyPI packages ``onnx`` and ``onnxruntime``.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path


class OrtNet:
    """The valuer's net for scoring: ``embed_text`` through an ``onnxruntime`` session, ``fuse`` the torch head."""

    training = False

    def __init__(self, session, net):  # noqa: ANN001
        self.session = session
        self.net = net  # the fp32 torch net: its fusion head scores the pooled text

    def eval(self) -> OrtNet:
        return self

    def train(self, mode: bool = True) -> OrtNet:  # noqa: ARG002 - an inference session has no training mode
        return self

    def embed_text(self, input_ids, attention_mask):  # noqa: ANN001, ANN201 - torch tensors in, a torch tensor out
        import torch

        feed = {"ids": input_ids.numpy(), "mask": attention_mask.numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0])

    def fuse(self, text, num, cat):  # noqa: ANN001, ANN201
        return self.net.fuse(text, num, cat)

    def __call__(self, ids, mask, num, cat):  # noqa: ANN001, ANN204
        return self.fuse(self.embed_text(ids, mask), num, cat)


def export_onnx(net, path: Path) -> Path:  # noqa: ANN001
    """Write ``net.embed_text`` (fp32, CPU) as an ONNX graph with dynamic batch and sequence axes."""
    import torch

    class TextEncoder(torch.nn.Module):
        def __init__(self, inner):  # noqa: ANN001
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask):  # noqa: ANN001, ANN202
            return self.inner.embed_text(ids, mask)

    ids = torch.full((2, 8), 101, dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    axes = {"ids": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}, "text": {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(TextEncoder(net).eval(), (ids, mask), str(path), dynamo=False, opset_version=17,
                          input_names=["ids", "mask"], output_names=["text"], dynamic_axes=axes)
    return path


def ort_net(net, threads: int, int8: bool = False) -> OrtNet:  # noqa: ANN001
    """Export ``net``'s text encoder and open it in ONNX Runtime (optionally with int8 MatMul weights)."""
    import logging

    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="gbv-onnx-") as tmp:
        path = export_onnx(net, Path(tmp) / "encoder.onnx")
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            q_path = Path(tmp) / "encoder.int8.onnx"
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # its advice to pre-process first is for static quantisation
            try:
                quantize_dynamic(str(path), str(q_path), weight_type=QuantType.QInt8, per_channel=True,
                                 op_types_to_quantize=["MatMul"])
            finally:
                root.setLevel(level)
            path = q_path
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return OrtNet(session, net)
