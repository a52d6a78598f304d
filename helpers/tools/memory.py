"""Peak memory held by tensors while a function runs, the same quantity on a CPU as on a GPU.

A GPU's caching allocator keeps this count itself (torch.cuda.max_memory_allocated). A CPU
allocator does not, so here the allocation events that torch's profiler records are added up in
time order, on top of what was already alive when the function started (weights, optimizer
state). Neither figure contains the Python libraries or memory an allocator keeps after tensors
are freed; the process's resident memory, which does, is `peak_rss_bytes`.
"""
from __future__ import annotations

import gc
import resource

import torch


def live_tensor_bytes(device_type: str = "cpu") -> int:
    """Bytes of every distinct tensor storage on `device_type` that Python can still reach."""
    storages: dict[int, int] = {}
    for obj in gc.get_objects():
        # type(), not isinstance(): some lazy module proxies warn when their __class__ is read.
        if issubclass(type(obj), torch.Tensor) and obj.device.type == device_type and obj.layout == torch.strided:
            storage = obj.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def cpu_peak_tensor_bytes(function) -> int:
    """Highest number of bytes held by CPU tensors while `function()` runs.

    Frees of tensors that were alive before the call are not reported by the profiler, so if the
    function releases some of them the figure errs high, never low."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    before = live_tensor_bytes("cpu")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as recording:
        function()
    events = []
    pending = list(recording.profiler.kineto_results.experimental_event_tree())
    while pending:
        event = pending.pop()
        pending.extend(event.children)
        if event.tag == _EventType.Allocation and event.extra_fields.device.type == "cpu":
            events.append((event.start_time_ns, event.extra_fields.alloc_size))   # < 0 for a free
    held = peak = 0
    for _, size in sorted(events):
        held += size
        peak = max(peak, held)
    return before + peak


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far: libraries and allocator caches included."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux reports KiB
