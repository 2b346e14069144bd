import pytest

from pgml_py import device, errors


def no_gpu():
    return 0


def test_kwarg_wins_over_setting():
    assert device.choose("cuda:1", "cpu", gpu_count=lambda: 2) == "cuda:1"
    assert device.choose("cpu", "cuda:0", gpu_count=no_gpu) == "cpu"


def test_cuda_without_gpu_is_0A000():
    for requested, setting in (("cuda:0", "auto"), (None, "cuda:0"), (None, "cuda"), (None, "cuda:3")):
        with pytest.raises(errors.FeatureNotSupported) as info:
            device.choose(requested, setting, gpu_count=no_gpu if setting != "cuda:3" else lambda: 2)
        assert info.value.sqlstate == "0A000" and "No GPU available" in str(info.value)
        assert info.value.hint


def test_bad_setting_is_22023_naming_it():
    for bad in ("bogus", "cuda:x", "gpu", "cuda:-1"):
        assert not device.valid_setting(bad)
        with pytest.raises(errors.InvalidParameter) as info:
            device.choose(None, bad, gpu_count=no_gpu)
        assert info.value.sqlstate == "22023" and '"pgml.device"' in str(info.value)
    for good in ("auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps", "", None):
        assert device.valid_setting(good)


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
