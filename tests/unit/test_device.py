from pgml_py import device


def no_gpu():
    return 0


def test_kwarg_wins_over_setting():
    assert device.choose("cuda:1", "cpu", gpu_count=no_gpu) == "cuda:1"


def test_setting_used_without_kwarg():
    assert device.choose(None, "cpu", gpu_count=lambda: 4) == "cpu"


def test_auto_without_gpu_is_cpu():
    assert device.choose(None, "auto", gpu_count=no_gpu) == "cpu"


def test_auto_spreads_backends_over_gpus():
    assert device.choose(None, "auto", gpu_count=lambda: 4, pid=4242) == "cuda:2"
    assert device.choose(None, "", gpu_count=lambda: 1, pid=7) == "cuda:0"


def test_auto_on_this_machine_matches_torch():
    import torch
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert device.choose(None, "auto").startswith(expected)
