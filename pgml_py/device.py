"""Where models run, decided in one place: the call's `device` wins, else pgml.device;
"auto" means a CUDA GPU when torch sees one (spread over GPUs by backend pid), else the CPU."""
import os


def cuda_device_count():
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def choose(requested, setting="auto", gpu_count=cuda_device_count, pid=None):
    """Returns a torch device string. `gpu_count` is a callable so tests need no GPU."""
    if requested:
        return str(requested)
    if setting and setting != "auto":
        return setting
    count = gpu_count()
    if count > 0:
        return "cuda:%d" % ((os.getpid() if pid is None else pid) % count)
    return "cpu"
