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


def cpu_threads() -> int:
    """The cores this process may run on (its affinity mask; ``os.cpu_count()`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


LGBM_THREADS_ENV = "GBV_LGBM_THREADS"


def threads_from_env(name: str) -> int:
    """``$name`` as a number of threads (at most :func:`cpu_threads`), else every core this process may use."""
    env = (os.environ.get(name) or "").strip()
    if env:
        try:
            return max(1, min(int(env), cpu_threads()))
        except ValueError:
            log.warning("%s=%r is not a number of threads; using %d", name, env, cpu_threads())
    return cpu_threads()


def lgbm_threads() -> int:
    """LightGBM's threads for training and scoring: ``$GBV_LGBM_THREADS`` (at most :func:`cpu_threads`), else every
    core this process may use. More threads than cores makes OpenMP wait on itself: 4 threads on this 2-core
    machine fitted the real sales in 9-11 s, 2 threads in 2.1 s, to the same trees."""
    return threads_from_env(LGBM_THREADS_ENV)


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
