"""Summarization, translation and text2text-generation pipelines for pgml.transform.

transformers 5 removed these pipelines and refuses their task names in pipeline(), but
PostgresML users call them and read their output. These Pipeline subclasses rebuild
transformers 4.43's (the version PostgresML shipped): the same prefixes, task_specific_params
defaults, call options and output shapes, batched. register() adds them to transformers'
PIPELINE_REGISTRY as "pgml-<task>", so pipeline() loads, places and caches them like any task.
Imported only when such a pipeline is built (it imports torch and transformers).
"""
import re

import torch
from transformers import AutoModelForSeq2SeqLM, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

TASK_PREFIX = "pgml-"
TRANSLATION_XX_TO_YY = re.compile(r"^translation_([^_]+)_to_([^_]+)$")
# T5 was trained on prompts naming languages in English ("translate English to German: ").
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "ro": "Romanian", "es": "Spanish",
             "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese",
             "ja": "Japanese", "ko": "Korean", "ar": "Arabic", "hi": "Hindi"}
DEFAULT_BATCH_SIZE = 16
# What transformers 4 loaded for a task object without "model" (revision: the hub's main).
DEFAULT_MODELS = {"summarization": "sshleifer/distilbart-cnn-12-6", "translation": "google-t5/t5-base",
                  "text2text-generation": "google-t5/t5-base"}


def register(task):
    """pipeline()'s name for `task` (summarization, translation, translation_xx_to_yy,
    text2text-generation): "pgml-<task>", registered once per backend on first use. The name
    carries the task, so each translation_xx_to_yy is registered under its own name."""
    name = TASK_PREFIX + task
    if name not in PIPELINE_REGISTRY.get_supported_tasks():
        kind = "summarization" if task.startswith("summarization") else (
            "translation" if task.startswith("translation") else "text2text-generation")
        PIPELINE_REGISTRY.register_pipeline(
            name, pipeline_class=PIPELINES[kind], pt_model=AutoModelForSeq2SeqLM,
            default={"model": (DEFAULT_MODELS[kind], None)}, type="text")
    return name


def resolve_task(task, config):
    """(task for task_specific_params, src_lang, tgt_lang). Plain "translation" picks the model's
    first translation_xx_to_yy entry, as transformers 4's pipeline() did."""
    params = getattr(config, "task_specific_params", None) or {}
    if task == "translation":
        task = next((key for key in params if key.startswith("translation")), task)
    match = TRANSLATION_XX_TO_YY.match(task)
    return (task, match.group(1), match.group(2)) if match else (task, None, None)


class Text2TextGenerationPipeline(Pipeline):
    """A seq2seq model's generate() on each input: [{"generated_text": s}, ...], one per input;
    a list per input when several sequences are returned per input (num_return_sequences > 1)."""

    default_task = "text2text-generation"
    return_name = "generated"
    _pipeline_calls_generate = True
    _load_tokenizer = True
    _load_processor = _load_image_processor = _load_video_processor = _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        kwargs.pop("local_files_only", None)  # pipeline() loaded with it; not a generate() option
        super().__init__(*args, **kwargs)
        task = self.task[len(TASK_PREFIX):] if self.task.startswith(TASK_PREFIX) else self.task
        self.param_task, self.src_lang, self.tgt_lang = resolve_task(task or self.default_task, self.model.config)
        params = dict((getattr(self.model.config, "task_specific_params", None) or {}).get(self.param_task) or {})
        self.prefix = params.pop("prefix", getattr(self.model.config, "prefix", None))
        # The task's defaults under the task object's generation options; a call's args win over both.
        self._generate_kwargs = {**params, **self._generate_kwargs}
        if self._batch_size is None:  # a tokenizer without a pad token cannot pad a batch
            self._batch_size = DEFAULT_BATCH_SIZE if self.tokenizer.pad_token_id is not None else 1

    def _sanitize_parameters(self, truncation=None, src_lang=None, tgt_lang=None, return_tensors=None,
                             return_text=None, clean_up_tokenization_spaces=None, stop_sequence=None,
                             **generate_kwargs):
        """Like transformers 4, return_text is taken and ignored; return_tensors gives token ids
        instead of text; the rest goes to generate(), which rejects unknown names."""
        preprocess = {key: value for key, value in (("truncation", truncation), ("src_lang", src_lang),
                                                    ("tgt_lang", tgt_lang)) if value is not None}
        postprocess = {key: value for key, value in (("return_tensors", return_tensors),
                                                     ("clean_up_tokenization_spaces", clean_up_tokenization_spaces))
                       if value is not None}
        if stop_sequence is not None:
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if ids:
                generate_kwargs["eos_token_id"] = ids[0]
        return preprocess, generate_kwargs, postprocess

    def __call__(self, inputs, **kwargs):
        result = super().__call__(inputs, **kwargs)
        if isinstance(inputs, list) and all(len(records) == 1 for records in result):
            return [records[0] for records in result]
        return result

    def preprocess(self, text, truncation=True, src_lang=None, tgt_lang=None):
        if not isinstance(text, str):
            raise TypeError("inputs for %s must be strings" % self.param_task)
        if src_lang is None and tgt_lang is None:
            src_lang, tgt_lang = self.src_lang, self.tgt_lang
        kwargs = {"truncation": truncation, "return_tensors": "pt"}
        if truncation not in (False, None, "do_not_truncate") and self.tokenizer.model_max_length > 1_000_000:
            limit = getattr(self.model.config, "max_position_embeddings", None)
            kwargs["max_length"] = limit or 512  # tokenizer without a limit: the model's, else T5's
        encoded = dict(self.encode(text, src_lang, tgt_lang, kwargs))
        encoded.pop("token_type_ids", None)  # made by some tokenizers, rejected by generate
        return encoded

    def encode(self, text, src_lang, tgt_lang, kwargs):
        return self.tokenizer((self.prefix or "") + text, **kwargs)

    def _forward(self, model_inputs, **generate_kwargs):
        forced = model_inputs.pop("forced_bos_token_id", None)
        if forced is not None:
            generate_kwargs.setdefault("forced_bos_token_id", int(forced[0]))
        batch = model_inputs["input_ids"].shape[0]
        output = self.model.generate(**model_inputs, **self._prepare_generate_kwargs(generate_kwargs))
        ids = output if torch.is_tensor(output) else output.sequences  # return_dict_in_generate=True
        return {"output_ids": ids.reshape(batch, ids.shape[0] // batch, *ids.shape[1:])}

    def postprocess(self, model_outputs, return_tensors=False, clean_up_tokenization_spaces=False):
        records = []
        for ids in model_outputs["output_ids"][0]:
            if return_tensors:
                records.append({"%s_token_ids" % self.return_name: [int(i) for i in ids]})
            else:
                text = self.tokenizer.decode(ids, skip_special_tokens=True,
                                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
                records.append({"%s_text" % self.return_name: text})
        return records


class SummarizationPipeline(Text2TextGenerationPipeline):
    """[{"summary_text": s}, ...]; T5's "summarize: " prefix and beams from task_specific_params."""

    default_task = "summarization"
    return_name = "summary"


class TranslationPipeline(Text2TextGenerationPipeline):
    """[{"translation_text": s}, ...]. src_lang/tgt_lang come from translation_xx_to_yy (or the
    call's args); multilingual tokenizers (mBART, M2M100, NLLB) take them as language codes."""

    default_task = "translation"
    return_name = "translation"

    def encode(self, text, src_lang, tgt_lang, kwargs):
        if hasattr(self.tokenizer, "src_lang"):  # a multilingual tokenizer: codes, no prompt
            if src_lang is None or tgt_lang is None:
                raise ValueError("Translation requires a `src_lang` and a `tgt_lang` for this model")
            self.tokenizer.src_lang = src_lang  # the source language's special tokens
            encoded = self.tokenizer(text, **kwargs)
            lang_id = getattr(self.tokenizer, "get_lang_id", None)  # M2M100 names languages "fr", not "__fr__"
            forced = lang_id(tgt_lang) if lang_id is not None else self.tokenizer.convert_tokens_to_ids(tgt_lang)
            encoded["forced_bos_token_id"] = torch.tensor([forced])
            return encoded
        prefix = self.prefix
        if prefix is None and self.model.config.model_type == "t5" and src_lang and tgt_lang:
            # T5 checkpoints without task_specific_params still expect the English-named prompt.
            prefix = "translate %s to %s: " % (LANGUAGES.get(src_lang, src_lang), LANGUAGES.get(tgt_lang, tgt_lang))
        return self.tokenizer((prefix or "") + text, **kwargs)


PIPELINES = {"summarization": SummarizationPipeline, "translation": TranslationPipeline,
             "text2text-generation": Text2TextGenerationPipeline}
