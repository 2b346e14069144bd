"""Summarization, translation and text2text pipelines on a tiny T5, built by transformers'
pipeline() from their PIPELINE_REGISTRY entries (no hub, no server)."""
import json
import subprocess
import sys

import pytest

from fixtures.tiny_models import t5_seq2seq

TEXT = "hello world the cat is good"


@pytest.fixture(scope="module")
def seq2seq():
    from pgml_py.hf import seq2seq
    return seq2seq


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    return str(t5_seq2seq(tmp_path_factory.mktemp("t5")))


@pytest.fixture(scope="module")
def plain_t5(tmp_path_factory):
    """A T5 whose config has no task_specific_params, like many fine-tuned checkpoints."""
    return str(t5_seq2seq(tmp_path_factory.mktemp("t5plain"), task_specific_params=False))


def build(seq2seq, task, path, **kwargs):
    from transformers import pipeline
    return pipeline(seq2seq.register(task), model=path, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def runner(seq2seq, t5):
    made = {}

    def get(task, path=None):
        key = (task, path or t5)
        if key not in made:
            made[key] = build(seq2seq, task, path or t5)
        return made[key]
    return get


class Spy:
    """Wraps a tokenizer and records the texts it was asked to encode."""

    def __init__(self, tokenizer):
        self.tokenizer, self.texts = tokenizer, []

    def __call__(self, texts, **kwargs):
        self.texts.extend([texts] if isinstance(texts, str) else texts)
        return self.tokenizer(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def test_import_is_light():
    """transform.py names these pipelines without importing them: torch loads with the first one."""
    code = "import sys; import pgml_py.hf.transform; sys.exit('torch' in sys.modules or 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_registered_once_and_built_by_pipeline(seq2seq, t5, runner):
    from transformers.pipelines import PIPELINE_REGISTRY
    for task, cls in (("summarization", seq2seq.SummarizationPipeline),
                      ("translation_en_to_fr", seq2seq.TranslationPipeline),
                      ("text2text-generation", seq2seq.Text2TextGenerationPipeline)):
        name = seq2seq.register(task)
        assert name == "pgml-" + task and seq2seq.register(task) == name
        assert name in PIPELINE_REGISTRY.get_supported_tasks()
        pipe = runner(task)
        assert type(pipe) is cls and pipe.task == name and str(pipe.device) == "cpu"
    with pytest.raises(KeyError, match="removed"):  # why the names are ours: transformers 5 refuses its own
        from transformers import pipeline
        pipeline("summarization", model=t5)


@pytest.mark.parametrize("task,key", [("summarization", "summary_text"), ("translation", "translation_text"),
                                      ("translation_en_to_fr", "translation_text"),
                                      ("text2text-generation", "generated_text")])
def test_output_shape_one_record_per_input(runner, task, key):
    out = runner(task)([TEXT, "postgres database", "the dog"])
    assert isinstance(out, list) and len(out) == 3
    for record in out:
        assert list(record) == [key] and isinstance(record[key], str)
    json.dumps(out)


def test_batch_keeps_order(runner):
    texts = [TEXT, "postgres database model", "the dog run in the ocean"]
    one_by_one = [runner("text2text-generation")([t])[0] for t in texts]
    assert runner("text2text-generation")(texts) == one_by_one
    assert runner("text2text-generation")(texts, batch_size=2) == one_by_one


def test_greedy_is_deterministic(seq2seq, runner, t5):
    first = runner("text2text-generation")([TEXT])
    again = build(seq2seq, "text2text-generation", t5)([TEXT])
    assert first == again


def test_max_new_tokens_limits_output(runner):
    out = runner("text2text-generation")([TEXT], max_new_tokens=3, return_tensors=True)
    ids = out[0]["generated_token_ids"]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) <= 4  # decoder start token + 3 new tokens
    longer = runner("text2text-generation")([TEXT], max_new_tokens=10, min_new_tokens=10, return_tensors=True)
    assert len(longer[0]["generated_token_ids"]) == 11


def test_num_beams_and_num_return_sequences(runner):
    out = runner("text2text-generation")([TEXT, "the dog"], num_beams=3, num_return_sequences=2)
    assert len(out) == 2 and all(len(per_input) == 2 for per_input in out)
    assert all(list(r) == ["generated_text"] for per_input in out for r in per_input)


def test_task_specific_params_apply(runner):
    summarize = runner("summarization")
    assert summarize.prefix == "summarize: "
    ids = summarize([TEXT], return_tensors=True)[0]["summary_token_ids"]
    assert 6 <= len(ids) <= 24
    # The call's args win over the task's defaults.
    ids = summarize([TEXT], max_length=8, min_length=0, return_tensors=True)[0]["summary_token_ids"]
    assert len(ids) <= 8


def test_translation_uses_the_task_prefix(runner):
    translate = runner("translation_en_to_fr")
    translate.tokenizer = spy = Spy(translate.tokenizer)
    try:
        out = translate(["hello world", "the cat"])
    finally:
        translate.tokenizer = spy.tokenizer
    assert spy.texts == ["translate English to French: hello world", "translate English to French: the cat"]
    # Same as a manual prefixed generate with the task's settings.
    tokenizer, model = translate.tokenizer, translate.model
    encoded = tokenizer(["translate English to French: hello world"], return_tensors="pt")
    ids = model.generate(**encoded, num_beams=2, max_length=16, early_stopping=True)
    assert out[0]["translation_text"] == tokenizer.decode(ids[0], skip_special_tokens=True)


def test_plain_translation_picks_the_first_translation_params(runner):
    translate = runner("translation")
    assert translate.param_task == "translation_en_to_de"
    assert translate.prefix == "translate English to German: "


def test_t5_without_params_gets_a_language_prefix(runner, plain_t5):
    translate = runner("translation_en_to_fr", plain_t5)
    translate.tokenizer = spy = Spy(translate.tokenizer)
    try:
        translate(["hello world"])
    finally:
        translate.tokenizer = spy.tokenizer
    assert spy.texts == ["translate English to French: hello world"]
    text2text = runner("text2text-generation", plain_t5)
    text2text.tokenizer = spy = Spy(text2text.tokenizer)
    try:
        text2text(["hello world"])
    finally:
        text2text.tokenizer = spy.tokenizer
    assert spy.texts == ["hello world"]


def test_long_input_is_truncated(seq2seq, runner, t5):
    long_text = " ".join(["database"] * 5000)
    assert runner("summarization").preprocess(long_text)["input_ids"].shape[1] == 512
    unlimited = build(seq2seq, "text2text-generation", t5)
    unlimited.tokenizer.model_max_length = int(1e30)  # a tokenizer that states no limit
    assert unlimited.preprocess(long_text)["input_ids"].shape[1] == 512
    assert unlimited.preprocess(long_text, truncation=False)["input_ids"].shape[1] == 5001
    for task in ("summarization", "text2text-generation"):
        out = runner(task)([long_text, "the cat"], max_new_tokens=4)
        assert len(out) == 2


def test_bad_generate_kwarg_raises(runner):
    with pytest.raises((ValueError, TypeError), match="not_an_option"):
        runner("text2text-generation")([TEXT], not_an_option=1)
    with pytest.raises((ValueError, TypeError)):
        runner("summarization")([TEXT], num_beams="many")


def test_inputs_must_be_strings(runner):
    with pytest.raises(TypeError):
        runner("summarization")([{"text": TEXT}])


def test_stop_sequence_and_clean_up_options(runner):
    out = runner("text2text-generation")([TEXT], stop_sequence="chien", clean_up_tokenization_spaces=True,
                                         return_text=True)
    assert isinstance(out[0]["generated_text"], str)


def test_pipeline_options(seq2seq, t5):
    """What a task object passes to pipeline(): dtype, hub options, batch_size, and generation
    options that apply to every call, under the call's own args."""
    import torch
    made = build(seq2seq, "summarization", t5, dtype=torch.float32, local_files_only=True, revision="main",
                 batch_size=2, max_new_tokens=2, min_length=0)
    assert made.model.dtype == torch.float32
    assert len(made([TEXT] * 3)) == 3
    assert all(len(r["summary_token_ids"]) <= 3 for r in made([TEXT] * 3, return_tensors=True))
    longer = made([TEXT], max_new_tokens=8, min_new_tokens=8, return_tensors=True)
    assert len(longer[0]["summary_token_ids"]) == 9


def test_stopping_criteria_are_called_and_can_cancel(runner):
    """transform's cancel check (generation.interrupt_check) runs between tokens and its ERROR
    stops generate()."""
    from transformers import StoppingCriteriaList
    from pgml_py.hf.generation import interrupt_check

    class Cancelled(Exception):
        pass
    calls = []

    def check():
        calls.append(1)
        if len(calls) >= 3:
            raise Cancelled()
    criteria = StoppingCriteriaList([interrupt_check(check)])
    with pytest.raises(Cancelled):
        runner("text2text-generation")([TEXT], max_new_tokens=50, min_new_tokens=50, stopping_criteria=criteria)
    assert len(calls) == 3
