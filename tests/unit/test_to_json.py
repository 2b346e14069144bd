"""transform's JSON output (pgml_py.hf.transform.to_json): what the pipelines' numpy and torch
values become."""
import json

import numpy as np
import torch

from pgml_py.hf.transform import to_json


def test_float32_values_keep_their_float32_value_in_the_shortest_form():
    vectors = torch.randn(2, 3, 384, generator=torch.Generator().manual_seed(0))
    text = to_json([vectors[0], vectors[1].numpy(), np.float32(0.1)])
    back = json.loads(text)
    assert np.array_equal(np.asarray(back[0], dtype=np.float32), vectors[0].numpy())
    assert np.array_equal(np.asarray(back[1], dtype=np.float32), vectors[1].numpy())
    assert text.endswith(",0.1]")  # not 0.10000000149011612
    assert len(text) < 0.6 * len(json.dumps([vectors[0].tolist(), vectors[1].tolist(), 0.1]))


def test_bf16_tensors_and_views_are_written_as_their_values():
    half = torch.tensor([0.5, 0.25], dtype=torch.bfloat16)
    transposed = torch.arange(6.0).reshape(2, 3).t()  # not C-contiguous
    assert json.loads(to_json([half, transposed, torch.tensor([1, 2])])) == [[0.5, 0.25], [[0, 3], [1, 4], [2, 5]], [1, 2]]


def test_keys_that_are_not_strings_and_nan():
    assert json.loads(to_json({1: "a", "b": float("nan")})) == {"1": "a", "b": None}
