"""Extractive question answering on a tiny BERT, built by transformers' pipeline() from its
PIPELINE_REGISTRY entry (no hub, no server)."""
import json

import pytest

from fixtures.tiny_models import bert_question_answering

CONTEXT = "the cat is a good dog in paris france and the database model is good"
QUESTION = "what is the cat"
LONG_CONTEXT = " ".join(["the data is in the sql database and the dog is good in paris"] * 60)


@pytest.fixture(scope="module")
def qa():
    from pgml_py.hf import question_answering
    return question_answering


@pytest.fixture(scope="module")
def runner(qa, tmp_path_factory):
    from transformers import pipeline
    path = bert_question_answering(tmp_path_factory.mktemp("qa"))
    return pipeline(qa.register("question-answering"), model=str(path), device="cpu")


def check_answer(answer, context):
    assert set(answer) == {"answer", "score", "start", "end"}
    assert isinstance(answer["answer"], str) and isinstance(answer["score"], float)
    assert isinstance(answer["start"], int) and isinstance(answer["end"], int)
    assert answer["answer"] and context[answer["start"]:answer["end"]] == answer["answer"]
    json.dumps(answer)


def test_registered_once_and_built_by_pipeline(qa, runner):
    from transformers.pipelines import PIPELINE_REGISTRY
    assert qa.register() == qa.register("question-answering") == "pgml-question-answering"
    assert "pgml-question-answering" in PIPELINE_REGISTRY.get_supported_tasks()
    assert type(runner) is qa.QuestionAnsweringPipeline and str(runner.device) == "cpu"


def test_one_input_gives_one_answer(runner):
    answer = runner([{"question": QUESTION, "context": CONTEXT}])
    check_answer(answer, CONTEXT)
    assert 0 < answer["score"] <= 1
    assert runner({"question": QUESTION, "context": CONTEXT}) == answer
    assert runner([json.dumps({"question": QUESTION, "context": CONTEXT})]) == answer


def test_score_is_the_best_span_probability(runner):
    """Brute force: softmax over context tokens (and CLS), best start <= end < start + 15."""
    import torch

    tokenizer, model = runner.tokenizer, runner.model
    encoded = tokenizer(QUESTION, CONTEXT, return_tensors="pt")
    with torch.no_grad():
        output = model(**encoded)
    allowed = torch.tensor([sid == 1 for sid in encoded.sequence_ids(0)])
    allowed[0] = True  # CLS
    start = output.start_logits[0].masked_fill(~allowed, -10000.0).softmax(-1)
    end = output.end_logits[0].masked_fill(~allowed, -10000.0).softmax(-1)
    start[0] = end[0] = 0
    best = max((float(start[s] * end[e]), s, e) for s in range(len(start))
               for e in range(s, min(s + 15, len(end))) if allowed[s] and allowed[e])
    answer = runner([{"question": QUESTION, "context": CONTEXT}])
    assert answer["score"] == pytest.approx(best[0], rel=1e-4)
    offsets = encoded.encodings[0].offsets
    assert (answer["start"], answer["end"]) == (offsets[best[1]][0], offsets[best[2]][1])


def test_top_k_returns_candidates_by_score(runner):
    answers = runner([{"question": QUESTION, "context": CONTEXT}], top_k=2)
    assert isinstance(answers, list) and len(answers) == 2
    for answer in answers:
        check_answer(answer, CONTEXT)
    assert answers[0]["score"] >= answers[1]["score"]
    assert answers[0] == runner([{"question": QUESTION, "context": CONTEXT}])


def test_several_inputs_give_a_list_in_order(runner):
    items = [{"question": QUESTION, "context": CONTEXT},
             {"question": "where is the dog", "context": "the dog is in paris"},
             {"question": "what is good", "context": "coffee is good and the ocean is bad"}]
    answers = runner(items)
    assert isinstance(answers, list) and len(answers) == 3
    for item, answer in zip(items, answers):
        check_answer(answer, item["context"])
        assert answer == pytest.approx(runner([item]))  # padding in a batch changes nothing
    per_input = runner(items, top_k=2)
    assert len(per_input) == 3 and all(isinstance(a, list) and len(a) == 2 for a in per_input)


def test_long_context_uses_windows(runner):
    item = {"question": "where is the dog", "context": LONG_CONTEXT}
    windows = list(runner.preprocess(item))
    assert len(windows) > 1 and [w["is_last"] for w in windows][-2:] == [False, True]  # overlapping windows
    answer = runner([item])
    check_answer(answer, LONG_CONTEXT)
    for args in ({"doc_stride": 32}, {"doc_stride": 16, "max_seq_len": 64}):
        check_answer(runner([item], **args), LONG_CONTEXT)
        assert runner([item], batch_size=1, **args) == pytest.approx(runner([item], **args))
    answers = runner([item, {"question": QUESTION, "context": CONTEXT}], top_k=3, doc_stride=32)
    assert len(answers) == 2 and len(answers[0]) == 3
    assert [a["score"] for a in answers[0]] == sorted((a["score"] for a in answers[0]), reverse=True)


def test_max_answer_len(runner):
    answer = runner([{"question": QUESTION, "context": CONTEXT}], max_answer_len=1, align_to_words=False)
    assert len(answer["answer"].split()) == 1


def test_handle_impossible_answer(runner):
    answers = runner([{"question": QUESTION, "context": CONTEXT}], top_k=200, handle_impossible_answer=True)
    empty = [a for a in answers if a["answer"] == ""]
    assert len(empty) == 1 and (empty[0]["start"], empty[0]["end"]) == (0, 0)


def test_deterministic(runner):
    item = {"question": QUESTION, "context": CONTEXT}
    assert runner([item]) == runner([item])


@pytest.mark.parametrize("args,error", [({"top_k": 0}, ValueError), ({"max_answer_len": 0}, ValueError),
                                        ({"doc_stride": 500, "max_seq_len": 64}, ValueError),
                                        ({"num_beams": 2}, TypeError)])
def test_bad_args(runner, args, error):
    with pytest.raises(error):
        runner([{"question": QUESTION, "context": CONTEXT}], **args)


@pytest.mark.parametrize("item", [{"question": QUESTION}, {"question": QUESTION, "context": ""},
                                  {"question": None, "context": CONTEXT}, "not json"])
def test_bad_inputs(runner, item):
    with pytest.raises(ValueError):
        runner([item])


def test_question_longer_than_the_window(runner):
    with pytest.raises(ValueError, match="max_seq_len"):
        runner([{"question": " ".join(["what"] * 100), "context": CONTEXT}], max_seq_len=64, doc_stride=16)
