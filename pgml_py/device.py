"""Where models run, decided in one place: the call's `device` wins, else pgml.device;
"auto" means a CUDA GPU when torch sees one (spread over GPUs by backend pid), else the CPU."""
import os
import re

from . import errors

# What pgml.device accepts (torch device strings pgml can place a model on).
SETTING_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
SETTING_HINT = "Use auto, cpu, cuda, cuda:N (N from 0) or mps, or RESET pgml.device."


def valid_setting(value):
    """True when value is a pgml.device value (checked when it is SET, and before use)."""
    return bool(SETTING_PATTERN.match((value or "auto").strip().strip('"')))


def cuda_device_count():
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def choose(requested, setting="auto", gpu_count=cuda_device_count, pid=None):
    """Returns a torch device string. `gpu_count` is a callable so tests need no GPU. A CUDA
    device on a machine without one is 0A000, a bad pgml.device 22023."""
    if requested:
        name, where = str(requested), 'the "device" kwarg'
    elif setting and setting != "auto":
        if not valid_setting(setting):
            raise errors.InvalidParameter('invalid value for parameter "pgml.device": "%s"' % setting,
                                          hint=SETTING_HINT)
        name, where = setting, "pgml.device"
    else:
        count = gpu_count()
        if count > 0:
            return "cuda:%d" % ((os.getpid() if pid is None else pid) % count)
        return "cpu"
    if name.startswith("cuda"):
        count = gpu_count()
        index = name.partition(":")[2]
        if count == 0 or (index.isdigit() and int(index) >= count):
            raise errors.FeatureNotSupported(
                "No GPU available: %s is %s, but torch sees %s" % (where, name, "no CUDA GPU" if count == 0
                                                                   else "%d CUDA GPU(s)" % count),
                hint="Use cpu or auto (SET pgml.device = 'auto'), or run on a machine with that GPU.")
    return name
