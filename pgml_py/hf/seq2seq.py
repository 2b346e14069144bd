"""Summarization, translation and text2text-generation for pgml.transform (api.md §5).

transformers 5 removed these pipelines, but PostgresML users call them and read their output.
This rebuilds the behaviour of transformers 4.43's Text2Text, Summarization and Translation
pipelines (the version PostgresML shipped) on AutoModelForSeq2SeqLM + generate: the same
prefixes, task_specific_params defaults, call options and output shapes, but batched.
"""
import copy
import re

TASKS = {"summarization", "translation", "text2text-generation"}
RETURN_NAMES = {"summarization": "summary", "translation": "translation", "text2text-generation": "generated"}
TRANSLATION_XX_TO_YY = re.compile(r"^translation_([^_]+)_to_([^_]+)$")
# T5 was trained on prompts naming languages in English ("translate English to German: ").
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "ro": "Romanian", "es": "Spanish",
             "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese",
             "ja": "Japanese", "ko": "Korean", "ar": "Arabic", "hi": "Hindi"}
# from_pretrained kwargs that concern the tokenizer too; the model gets every key.
SHARED_KEYS = ("revision", "token", "trust_remote_code", "cache_dir", "local_files_only", "subfolder")
DEFAULT_BATCH_SIZE = 16


def handles(task):
    return task in TASKS or TRANSLATION_XX_TO_YY.match(task) is not None


def as_dtype(value):
    """from_pretrained's dtype from a name ("float16", "torch.bfloat16"); "auto" and dtypes pass."""
    if not isinstance(value, str) or value == "auto":
        return value
    import torch
    dtype = getattr(torch, value.replace("torch.", ""), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError("dtype must be a torch dtype name such as float16. Got %r instead." % value)
    return dtype


def load_pretrained(auto_class, model, device, init_kwargs):
    """(model, tokenizer, batch_size) with init_kwargs routed: shared hub keys to both,
    tokenizer_kwargs/use_fast to the tokenizer, the rest to the model. Shared with QA."""
    from transformers import AutoTokenizer

    kwargs = dict(init_kwargs)
    batch_size = int(kwargs.pop("batch_size", DEFAULT_BATCH_SIZE))
    if "use_auth_token" in kwargs:
        kwargs["token"] = kwargs.pop("use_auth_token")
    if "torch_dtype" in kwargs:  # transformers 5 calls it dtype
        kwargs["dtype"] = kwargs.pop("torch_dtype")
    if "dtype" in kwargs:
        kwargs["dtype"] = as_dtype(kwargs["dtype"])
    tokenizer_kwargs = {key: kwargs[key] for key in SHARED_KEYS if key in kwargs}
    tokenizer_kwargs.update(kwargs.pop("tokenizer_kwargs", None) or {})
    if "use_fast" in kwargs:
        tokenizer_kwargs["use_fast"] = kwargs.pop("use_fast")
    kwargs.update(kwargs.pop("model_kwargs", None) or {})
    tokenizer = AutoTokenizer.from_pretrained(model, **tokenizer_kwargs)
    loaded = auto_class.from_pretrained(model, **kwargs)
    if "device_map" not in kwargs:
        loaded.to(device)
    loaded.eval()
    return loaded, tokenizer, batch_size


def create(task, model, device, init_kwargs):
    """A runner(inputs, **args) for a seq2seq task, loading `model` once."""
    from transformers import AutoModelForSeq2SeqLM

    loaded, tokenizer, batch_size = load_pretrained(AutoModelForSeq2SeqLM, model, device, init_kwargs)
    return Seq2SeqRunner(task, loaded, tokenizer, batch_size)


def resolve_task(task, config):
    """(task for task_specific_params, src_lang, tgt_lang). Plain "translation" picks the model's
    first translation_xx_to_yy entry, as transformers 4's pipeline() did."""
    params = getattr(config, "task_specific_params", None) or {}
    if task == "translation":
        task = next((key for key in params if key.startswith("translation")), task)
    match = TRANSLATION_XX_TO_YY.match(task)
    return (task, match.group(1), match.group(2)) if match else (task, None, None)


class Seq2SeqRunner:
    """One loaded model + tokenizer answering calls for one task."""

    def __init__(self, task, model, tokenizer, batch_size=DEFAULT_BATCH_SIZE):
        self.task, self.model, self.tokenizer, self.batch_size = task, model, tokenizer, batch_size
        self.return_name = RETURN_NAMES["translation" if task.startswith("translation") else task]
        self.param_task, self.src_lang, self.tgt_lang = resolve_task(task, model.config)
        # Task defaults go into a copy of the generation config, never into the shared model.
        params = dict((getattr(model.config, "task_specific_params", None) or {}).get(self.param_task) or {})
        self.prefix = params.pop("prefix", getattr(model.config, "prefix", None))
        self.generation_config = copy.deepcopy(model.generation_config)
        self.generation_config.update(**params)
        if self.generation_config.pad_token_id is None and tokenizer.pad_token_id is not None:
            self.generation_config.pad_token_id = tokenizer.pad_token_id

    def translation_prefix(self, src_lang, tgt_lang):
        """T5 checkpoints without task_specific_params still expect the English-named prompt."""
        if self.model.config.model_type != "t5" or not (src_lang and tgt_lang):
            return None
        return "translate %s to %s: " % (LANGUAGES.get(src_lang, src_lang), LANGUAGES.get(tgt_lang, tgt_lang))

    def encode(self, texts, truncation, src_lang, tgt_lang):
        """Padded tensors for a batch; multilingual tokenizers (mBART, M2M100, NLLB) also
        return the forced_bos_token_id of the target language."""
        kwargs = {"padding": True, "truncation": truncation, "return_tensors": "pt"}
        if truncation not in (False, None, "do_not_truncate") and self.tokenizer.model_max_length > 1_000_000:
            limit = getattr(self.model.config, "max_position_embeddings", None)
            kwargs["max_length"] = limit or 512  # tokenizer without a limit: the model's, else T5's
        if self.task.startswith("translation") and hasattr(self.tokenizer, "_build_translation_inputs"):
            return self.tokenizer._build_translation_inputs(texts, src_lang=src_lang, tgt_lang=tgt_lang, **kwargs)
        prefix = self.prefix
        if prefix is None and self.task.startswith("translation"):
            prefix = self.translation_prefix(src_lang, tgt_lang)
        if prefix:
            texts = [prefix + text for text in texts]
        if self.tokenizer.pad_token_id is None and len(texts) > 1:
            raise ValueError("Please make sure that the tokenizer has a pad_token_id when using a batch input")
        encoded = self.tokenizer(texts, **kwargs)
        encoded.pop("token_type_ids", None)  # made by some tokenizers, rejected by generate
        return encoded

    def __call__(self, inputs, truncation=True, clean_up_tokenization_spaces=False, return_text=True,
                 return_tensors=False, stop_sequence=None, src_lang=None, tgt_lang=None,
                 batch_size=None, **generate_kwargs):
        """[{"<name>_text": s}, ...] one per input; a list per input when several sequences
        are returned per input (num_return_sequences > 1), as the old pipelines did. Like them,
        it takes return_text and ignores it; return_tensors gives token ids instead of text."""
        import torch

        texts = list(inputs)
        if not all(isinstance(text, str) for text in texts):
            raise TypeError("inputs for %s must be strings" % self.task)
        if src_lang is None and tgt_lang is None:
            src_lang, tgt_lang = self.src_lang, self.tgt_lang
        if stop_sequence is not None:
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if ids:
                generate_kwargs["eos_token_id"] = ids[0]
        size = int(batch_size or self.batch_size)
        results = []
        for start in range(0, len(texts), max(size, 1)):
            batch = texts[start:start + size]
            encoded = dict(self.encode(batch, truncation, src_lang, tgt_lang))
            call_kwargs = dict(generate_kwargs)
            forced = encoded.pop("forced_bos_token_id", None)
            if forced is not None:
                call_kwargs.setdefault("forced_bos_token_id", forced)
            config = copy.deepcopy(self.generation_config)
            # update() keeps what it knows; the rest (stopping_criteria, typos) goes to generate,
            # which rejects unknown names with a ValueError.
            extra = config.update(**call_kwargs)
            encoded = {key: value.to(self.model.device) for key, value in encoded.items()}
            with torch.inference_mode():
                output_ids = self.model.generate(**encoded, generation_config=config, **extra)
            if not torch.is_tensor(output_ids):  # return_dict_in_generate=True
                output_ids = output_ids.sequences
            per_input = output_ids.shape[0] // len(batch)
            output_ids = output_ids.reshape(len(batch), per_input, -1).cpu()
            for sequences in output_ids:
                records = [self.record(ids, return_tensors, clean_up_tokenization_spaces) for ids in sequences]
                results.append(records)
        if all(len(records) == 1 for records in results):
            return [records[0] for records in results]
        return results

    def record(self, ids, return_tensors, clean_up_tokenization_spaces):
        if return_tensors:
            return {"%s_token_ids" % self.return_name: [int(i) for i in ids]}
        text = self.tokenizer.decode(ids, skip_special_tokens=True,
                                     clean_up_tokenization_spaces=clean_up_tokenization_spaces)
        return {"%s_text" % self.return_name: text}
