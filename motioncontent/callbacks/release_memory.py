"""ReleaseFreedMemory: hand the heap's free pages back to the system after every epoch and validation.

glibc's malloc keeps memory that tensors have freed in its arenas for reuse, and the pattern of a training loop
(many short-lived activation tensors of a few sizes, validation and sample rendering at other sizes) fragments them,
so a CPU run's resident memory creeps up over hours while the memory in use stays flat (the soak in
`benchmarks/soak.py`; the live-heap hunt in tests/test_memory_retention.py). `malloc_trim(0)` returns every free
page of every arena to the kernel; the PyTorch maintainers suggest it for exactly this
(pytorch/pytorch#41486). It costs a walk over the heap, milliseconds at these sizes, so it runs only at epoch and
validation ends. A no-op where the C library has no `malloc_trim` (macOS, musl): those allocators behave
differently and there is nothing to call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

from lightning.pytorch import Callback, LightningModule, Trainer


def _load_malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim") if name else None
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_freed_memory() -> bool:
    """Collect Python garbage, then return free heap pages to the kernel. True when malloc_trim released any."""
    gc.collect()
    return bool(_MALLOC_TRIM(0)) if _MALLOC_TRIM is not None else False


class ReleaseFreedMemory(Callback):
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        release_freed_memory()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        release_freed_memory()
