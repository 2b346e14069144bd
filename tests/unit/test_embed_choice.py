"""pgml.embed_backend auto (pgml_py/hf/embed_choice.py): the rule applied to a stored measurement,
the CPU check that makes another machine measure again, and the min-cosine setting."""
import json

import pytest

from pgml_py import errors, settings
from pgml_py.hf import backends, embed_choice

XEON = {"model": "Intel(R) Xeon(R) Processor", "flags": ["amx_bf16", "avx512_bf16", "avx512f"], "cores": 2}


def record(cpu=XEON, **rates):
    """A measurement: rates as backend[_quantize]=(texts/s, cosine)."""
    rows = []
    for name, (rate, cosine) in rates.items():
        backend, _, quantize = name.partition("_")
        rows.append({"backend": backend, "quantize": quantize or None, "texts_per_s": rate, "cosine_min": cosine})
    return {"format": embed_choice.FORMAT, "model": "m", "cpu": cpu, "threads": 2, "candidates": rows,
            "measured_at": "2026-12-07T18:00:00Z"}


def test_the_fastest_that_agrees_with_torch_wins():
    r = record(torch=(800, 1.0), onnx=(720, 1.0), openvino=(760, 1.0), openvino_bf16=(1680, 0.99997))
    backend, quantize, reason = embed_choice.decide(r, 0.9999)
    assert (backend, quantize) == ("openvino", "bf16")
    assert "2.10x torch" in reason and "cosine 0.999970" in reason and "Xeon" in reason


def test_a_candidate_below_the_cosine_is_left_out_and_named():
    r = record(torch=(800, 1.0), onnx=(720, 1.0), openvino_bf16=(1680, 0.99985))
    backend, quantize, reason = embed_choice.decide(r, 0.9999)
    assert (backend, quantize) == ("torch", None)  # torch beats onnx here
    assert "below the cosine: openvino bf16 (cosine 0.999850)" in reason
    # the rule is applied when read: a looser setting takes bf16 without measuring again
    assert embed_choice.decide(r, 0.999)[:2] == ("openvino", "bf16")


def test_failed_candidates_are_never_chosen():
    r = record(torch=(800, 1.0))
    r["candidates"].append({"backend": "onnx", "quantize": None, "error": "RuntimeError: boom"})
    backend, _, reason = embed_choice.decide(r, 0.9999)
    assert backend == "torch" and "failed: onnx (RuntimeError: boom)" in reason


def test_bf16_is_a_candidate_only_where_the_cpu_computes_it():
    everything = lambda backend: True  # noqa: E731
    assert ("openvino", "bf16") in embed_choice.candidates(XEON, everything)
    zen3 = {"model": "AMD EPYC 7B13", "flags": ["avx2"], "cores": 2}
    assert embed_choice.candidates(zen3, everything) == [("torch", None), ("onnx", None), ("openvino", None)]
    assert embed_choice.candidates(XEON, lambda b: b == "torch") == [("torch", None)]


def test_stored_measurement_is_reused_on_the_same_cpu_only(tmp_path):
    embed_choice.write(str(tmp_path / "a"), record(torch=(800, 1.0)))
    assert json.loads((tmp_path / "a" / embed_choice.FILE).read_text())["cpu"] == XEON
    assert not list((tmp_path / "a").glob("*.tmp-*"))
    found = embed_choice.read([str(tmp_path / "missing"), str(tmp_path / "a")], XEON)
    assert found["path"] == str(tmp_path / "a" / embed_choice.FILE)
    other = dict(XEON, model="AMD EPYC 9B14")
    assert embed_choice.read([str(tmp_path / "a")], other) is None  # another CPU measures again
    assert embed_choice.read([str(tmp_path / "a")], dict(XEON, cores=16)) is None
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / embed_choice.FILE).write_text("{not json")
    assert embed_choice.read([str(tmp_path / "b")], XEON) is None


def test_cpu_reads_this_machine():
    info = embed_choice.cpu()
    assert info["cores"] >= 1 and isinstance(info["model"], str) and set(info["flags"]) <= set(embed_choice.FLAGS)


def test_auto_is_measured_unless_quantize_names_the_runtime():
    if backends.available("onnx") or backends.available("openvino"):
        assert backends.choose(None, "auto") == "auto"
        assert backends.choose(None, ' "AUTO" ') == "auto"
    assert backends.choose(None, "auto", "bf16") == "openvino"
    assert backends.choose("torch", "auto") == "torch"


def test_min_cosine_setting():
    assert settings.from_raw({}).embed_min_cosine == 0.9999
    assert settings.from_raw({"pgml.embed_min_cosine": "0.999"}).embed_min_cosine == 0.999
    for bad in ("0", "1.5", "high"):
        with pytest.raises(errors.InvalidParameter) as info:
            settings.from_raw({"pgml.embed_min_cosine": bad})
        assert "pgml.embed_min_cosine" in info.value.message
        assert settings.CHECKS["pgml.embed_min_cosine"](bad)
    assert settings.CHECKS["pgml.embed_min_cosine"]("0.99") is None
    row = next(r for r in settings.definitions() if r[0] == "pgml.embed_min_cosine")
    assert row[1:3] == ("string", "0.9999")


def test_choices_lists_stored_measurements_with_the_current_rule(tmp_path):
    directory = tmp_path / backends.INSTALL_DIR / "m-123"
    embed_choice.write(str(directory), record(torch=(800, 1.0), openvino_bf16=(1680, 0.99997)))
    rows = [r for r in backends.choices(str(tmp_path), 0.9999) if r[7].startswith(str(tmp_path))]
    assert len(rows) == 1
    model, chosen, reason, candidates, cpu_model, this_cpu, measured_at, path = rows[0]
    assert (model, chosen, cpu_model, path) == ("m", "openvino bf16", XEON["model"], str(directory / "choice.json"))
    assert json.loads(candidates)[0]["backend"] in ("torch", "openvino") and "2.10x torch" in reason
    assert this_cpu == (embed_choice.cpu() == XEON)
    strict = [r for r in backends.choices(str(tmp_path), 0.99999) if r[7].startswith(str(tmp_path))]
    assert strict[0][1] == "torch"
