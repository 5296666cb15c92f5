"""Where training runs: the one place that picks the device (like project_ml's ``ComputeResource``).

Training code asks :func:`pick_device` for its device and records :func:`describe_hardware` in the model
card; nothing else in ``model/`` looks at ``torch.cuda`` itself.
"""

from __future__ import annotations

import logging
import os
import platform
import warnings

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


def _cuda_available() -> bool:
    try:
        import torch  # imported lazily: a CPU-only tree model never pays for it at import time
    except ImportError:  # pragma: no cover - torch is a declared dependency
        return False
    return bool(torch.cuda.is_available())


def pick_device(preference: str = "auto") -> str:
    """Return ``"cuda"`` or ``"cpu"``.

    ``auto`` gives ``cuda`` when torch sees a GPU, else ``cpu``. ``cuda`` asked for on a machine without a GPU
    falls back to ``cpu`` with a warning (a nightly must not die because a GPU went missing).
    """
    pref = (preference or "auto").lower()
    if pref not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {preference!r}")
    if pref == "cpu":
        return "cpu"
    if _cuda_available():
        return "cuda"
    if pref == "cuda":
        msg = "device 'cuda' requested but torch sees no GPU; falling back to cpu"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        log.warning(msg)
    return "cpu"


def describe_hardware(device: str) -> str:
    """One line for the model card and ``dim_model.hardware``, e.g. ``cpu: x86_64, 16 cores``."""
    cores = os.cpu_count() or 1
    cpu = f"{platform.machine() or 'unknown'}, {cores} cores"
    if device == "cuda":
        import torch

        idx = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return f"cuda: {props.name}, {props.total_memory / 2**30:.0f} GiB; host {cpu}"
    return f"cpu: {cpu}"
