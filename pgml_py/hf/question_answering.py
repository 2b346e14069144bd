"""Extractive question answering pipeline for pgml.transform.

transformers 5 removed the question-answering pipeline and refuses its task name in pipeline(),
but PostgresML users call it and read its output. This ChunkPipeline follows transformers 4's
QuestionAnsweringPipeline (4.43, which PostgresML shipped, plus 4.5x's merging of duplicate
answers): long contexts are split into overlapping windows, only context tokens (and CLS, for
"no answer") can be picked, and a span's score is P(start) * P(end) within its window. Windows
of all inputs run as padded batches. register() adds it to transformers' PIPELINE_REGISTRY as
"pgml-question-answering". Imported only when the pipeline is built (it imports torch).
"""
import json

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.base import ChunkPipeline

TASK = "pgml-question-answering"
OPTIONS = ("top_k", "topk", "doc_stride", "max_answer_len", "max_seq_len", "max_question_len",
           "handle_impossible_answer", "align_to_words", "padding", "batch_size")
DEFAULT_BATCH_SIZE = 16
DEFAULT_MODEL = "distilbert/distilbert-base-cased-distilled-squad"  # transformers 4's


def register(task="question-answering"):
    """pipeline()'s name for question-answering, registered once per backend on first use."""
    if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=QuestionAnsweringPipeline,
                                            pt_model=AutoModelForQuestionAnswering,
                                            default={"model": (DEFAULT_MODEL, None)}, type="text")
    return TASK


def parse_input(item):
    """A (question, context) pair, with transformers 4's checks on the dict."""
    if isinstance(item, str):
        item = json.loads(item)
    if not isinstance(item, dict):
        raise ValueError("%r argument needs to be of type dict with question and context" % (item,))
    for key in ("question", "context"):
        if key not in item:
            raise ValueError("You need to provide a dictionary with keys {question:..., context:...}")
        if item[key] is None:
            raise ValueError("`%s` cannot be None" % key)
        if not isinstance(item[key], str) or not item[key]:
            raise ValueError("`%s` must be a non-empty string" % key)
    return item["question"], item["context"]


def decode_spans(start, end, top_k, max_answer_len, allowed):
    """The top_k (start, end, score) spans with start <= end < start + max_answer_len, both
    ends on allowed tokens (transformers 4's decode_spans, on one window)."""
    candidates = np.tril(np.triu(np.outer(start, end)), max_answer_len - 1)
    flat = candidates.flatten()
    if top_k == 1:
        order = [int(np.argmax(flat))]
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        order = np.argpartition(-flat, top_k)[:top_k]
        order = order[np.argsort(-flat[order])]
    starts, ends = np.unravel_index(order, candidates.shape)
    # transformers 4 also kept zero-score pairs (end < start) when top_k outran the valid spans.
    keep = allowed[starts] & allowed[ends] & (ends >= starts) & (ends - starts < max_answer_len)
    return [(int(s), int(e), float(candidates[s, e])) for s, e in zip(starts[keep], ends[keep])]


def window_spans(start, end, allowed, null_index, top_k, max_answer_len):
    """Softmax over the allowed tokens of one window, then the best spans. Also returns the
    window's "no answer" score, P(start=CLS) * P(end=CLS)."""
    start = np.where(allowed, start, -10000.0)
    end = np.where(allowed, end, -10000.0)
    start = np.exp(start - start.max())
    start = start / start.sum()
    end = np.exp(end - end.max())
    end = end / end.sum()
    null_score = float(start[null_index] * end[null_index])
    start[null_index] = end[null_index] = 0.0
    allowed = allowed.copy()
    allowed[null_index] = False  # "no answer" is scored apart, never a span
    return decode_spans(start, end, top_k, max_answer_len, allowed), null_score


class QuestionAnsweringPipeline(ChunkPipeline):
    """{"answer", "score", "start", "end"} for one input, else a list with one entry per input;
    each entry is a list of answers when top_k > 1. Needs a fast tokenizer (it maps tokens back
    to characters)."""

    _load_tokenizer = True
    _load_processor = _load_image_processor = _load_video_processor = _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        kwargs.pop("local_files_only", None)  # pipeline() loaded with it; not a call option
        super().__init__(*args, **kwargs)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("question-answering needs a fast tokenizer (it maps tokens back to characters)")
        # Right-padding tokenizers take (question, context); left-padding ones the reverse.
        self.question_first = self.tokenizer.padding_side == "right"
        if self._batch_size is None:
            self._batch_size = DEFAULT_BATCH_SIZE

    def _sanitize_parameters(self, top_k=None, topk=None, doc_stride=None, max_answer_len=None, max_seq_len=None,
                             max_question_len=None, handle_impossible_answer=None, align_to_words=None,
                             padding=None, **unknown):
        if unknown:
            raise TypeError("question-answering got unexpected args %s; it accepts %s"
                            % (", ".join(sorted(unknown)), ", ".join(OPTIONS)))
        top_k = top_k if top_k is not None else topk
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError("top_k parameter should be >= 1 (got %r)" % (top_k,))
        if max_answer_len is not None and (not isinstance(max_answer_len, int) or max_answer_len < 1):
            raise ValueError("max_answer_len parameter should be >= 1 (got %r)" % (max_answer_len,))
        preprocess = {key: value for key, value in (("max_seq_len", max_seq_len), ("doc_stride", doc_stride),
                                                    ("padding", padding)) if value is not None}
        postprocess = {key: value for key, value in (
            ("top_k", top_k), ("max_answer_len", max_answer_len),
            ("handle_impossible_answer", handle_impossible_answer), ("align_to_words", align_to_words))
            if value is not None}
        return preprocess, {}, postprocess

    def __call__(self, inputs, **kwargs):
        result = super().__call__(inputs, **kwargs)
        return result[0] if isinstance(inputs, list) and len(result) == 1 else result

    def default_max_seq_len(self):
        """min(tokenizer limit, 384) like transformers 4; a tokenizer without a limit gets the
        model's position count instead of crashing past it."""
        limit = self.tokenizer.model_max_length
        if limit > 1_000_000:
            limit = getattr(self.model.config, "max_position_embeddings", None) or 512
        return min(limit, 384)

    def preprocess(self, item, max_seq_len=None, doc_stride=None, padding=None):
        """The input's overlapping windows, each with what postprocess needs to map it back."""
        question, context = parse_input(item)
        max_seq_len = max_seq_len or self.default_max_seq_len()
        doc_stride = doc_stride or min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError("`doc_stride` (%s) is larger than `max_seq_len` (%s)" % (doc_stride, max_seq_len))
        try:
            encoded = self.tokenizer(
                text=question if self.question_first else context,
                text_pair=context if self.question_first else question,
                padding="max_length" if padding == "max_length" else "longest",
                truncation="only_second" if self.question_first else "only_first",
                max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
                return_overflowing_tokens=True, return_offsets_mapping=True)
        except (TypeError, ValueError):
            raise
        except Exception as e:  # tokenizers' own errors, e.g. a question longer than max_seq_len
            raise ValueError("%s (lower doc_stride or raise max_seq_len)" % e) from e
        names = [n for n in self.tokenizer.model_input_names if n in encoded]
        count = len(encoded["input_ids"])
        for feature in range(count):
            allowed, null_index = self.allowed_tokens(encoded, feature)
            window = {n: torch.tensor([encoded[n][feature]]) for n in names}
            window.update(allowed=torch.tensor(allowed[None]), null_index=null_index,
                          encoding=encoded.encodings[feature], context=context, is_last=feature == count - 1)
            yield window

    def allowed_tokens(self, encoded, feature):
        """True where a token may be part of an answer: context tokens, and CLS (no answer)."""
        context_id = 1 if self.question_first else 0
        allowed = np.array([sid == context_id for sid in encoded.sequence_ids(feature)])
        allowed &= np.array(encoded["attention_mask"][feature], dtype=bool)
        cls_id = self.tokenizer.cls_token_id
        ids = np.array(encoded["input_ids"][feature])
        null_index = 0
        if cls_id is not None and (ids == cls_id).any():
            allowed |= ids == cls_id
            null_index = int(np.flatnonzero(ids == cls_id)[0])
        return allowed, null_index

    def _forward(self, inputs):
        names = [n for n in self.tokenizer.model_input_names if n in inputs]
        output = self.model(**{n: inputs[n] for n in names})
        # "start" first: the batch is split back into windows by its first value's length.
        result = {"start": output.start_logits.float(), "end": output.end_logits.float()}
        result.update({key: value for key, value in inputs.items() if key not in names})
        return result

    def postprocess(self, windows, top_k=1, max_answer_len=15, handle_impossible_answer=False, align_to_words=True):
        """The best answers for one input over all its windows, merging equal answer texts."""
        min_null_score = 1000000.0
        answers = []
        for window in windows:
            enc, context = window["encoding"], window["context"]
            # The window as tokenized: a batch pads it further, on the tokenizer's padding side.
            length = len(enc.ids)
            keep = slice(-length, None) if self.tokenizer.padding_side == "left" else slice(0, length)
            start, end, allowed = (window[key][0][keep].numpy() for key in ("start", "end", "allowed"))
            spans, null_score = window_spans(start, end, allowed, window["null_index"], top_k, max_answer_len)
            min_null_score = min(min_null_score, null_score)
            for s, e, score in spans:
                first, last = self.char_span(enc, s, e, bool(align_to_words))
                text = context[first:last]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score
                else:
                    answers.append({"score": score, "start": first, "end": last, "answer": text})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    def char_span(self, enc, s, e, align_to_words):
        """Character offsets in the context of tokens s..e, widened to whole words by default."""
        sequence = 1 if self.question_first else 0
        if align_to_words:
            try:
                start = enc.word_to_chars(enc.token_to_word(s), sequence_index=sequence)[0]
                end = enc.word_to_chars(enc.token_to_word(e), sequence_index=sequence)[1]
                return int(start), int(end)
            except Exception:  # some tokenizers have no words: keep to token offsets
                pass
        return int(enc.offsets[s][0]), int(enc.offsets[e][1])
