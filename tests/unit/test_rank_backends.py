"""pgml.rank under pgml.embed_backend auto (pgml_py/hf/rank_backends.py): which measured runtime
counts as giving torch's scores, and which one is chosen."""
import numpy as np

from pgml_py.hf import embed_choice, rank_backends

XEON = {"model": "Intel(R) Xeon(R) Processor", "flags": ["amx_bf16", "avx512_bf16"], "cores": 2}


def record(**rates):
    """rates as backend[_quantize]=(pairs/s, max_diff, order_kept)."""
    rows = []
    for name, (rate, diff, kept) in rates.items():
        backend, _, quantize = name.partition("_")
        rows.append({"backend": backend, "quantize": quantize or None, "pairs_per_s": rate, "max_diff": diff,
                     "order_kept": kept})
    return {"format": embed_choice.FORMAT, "kind": "rank", "model": "m", "cpu": XEON, "threads": 2,
            "candidates": rows}


def test_the_fastest_with_torchs_scores_wins():
    r = record(torch=(300, 0.0, True), onnx=(296, 8e-8, True), openvino=(339, 9e-8, True),
               openvino_bf16=(979, 7e-4, False))
    backend, quantize, reason = rank_backends.decide(r)
    assert (backend, quantize) == ("openvino", None)
    assert "1.13x torch" in reason and "not torch's scores: openvino bf16 (logits moved 7.0e-04, order changed)" in reason


def test_moved_logits_are_left_out_even_with_the_order_kept():
    r = record(torch=(300, 0.0, True), openvino_bf16=(979, 5e-4, True))
    backend, _, reason = rank_backends.decide(r)
    assert backend == "torch" and "openvino bf16 (logits moved 5.0e-04)" in reason


def test_failed_candidates_are_never_chosen():
    r = record(torch=(300, 0.0, True))
    r["candidates"].append({"backend": "onnx", "quantize": None, "error": "RuntimeError: boom"})
    backend, _, reason = rank_backends.decide(r)
    assert backend == "torch" and "failed: onnx (RuntimeError: boom)" in reason


def test_same_order_compares_each_querys_documents():
    per_query = len(rank_backends.CALIBRATION) // 4
    reference = np.arange(len(rank_backends.CALIBRATION), dtype=np.float32)
    assert rank_backends._same_order(reference + 1e-7, reference)
    swapped = reference.copy()
    swapped[[per_query + 2, per_query + 3]] = swapped[[per_query + 3, per_query + 2]]  # in query 2
    assert not rank_backends._same_order(swapped, reference)
    # a swap across two queries' blocks changes no query's order
    across = reference.copy()
    across[[per_query - 1, per_query]] = [per_query + 0.5, per_query - 0.5]
    assert rank_backends._same_order(across, reference)
    # ties in torch's scores may come out in either order
    tied = np.zeros(len(reference), dtype=np.float32)
    assert rank_backends._same_order(tied + np.linspace(0, 1e-6, len(tied)), tied)
