"""Extractive question answering for pgml.transform (api.md §5).

transformers 5 removed the question-answering pipeline, but PostgresML users call it and read
its output. This follows transformers 4's QuestionAnsweringPipeline (4.43, which PostgresML
shipped, plus 4.5x's merging of duplicate answers): long contexts are split into overlapping
windows, only context tokens (and CLS, for "no answer") can be picked, and a span's score is
P(start) * P(end) within its window. Windows of all inputs run as padded batches.
"""
import json

TASKS = {"question-answering"}
OPTIONS = ("top_k", "topk", "doc_stride", "max_answer_len", "max_seq_len", "max_question_len",
           "handle_impossible_answer", "align_to_words", "padding", "batch_size")


def handles(task):
    return task in TASKS


def create(task, model, device, init_kwargs):
    """A runner(inputs, **args) answering {"question", "context"} inputs with `model`."""
    from transformers import AutoModelForQuestionAnswering

    from .seq2seq import load_pretrained

    loaded, tokenizer, batch_size = load_pretrained(AutoModelForQuestionAnswering, model, device, init_kwargs)
    return QuestionAnsweringRunner(loaded, tokenizer, batch_size)


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
    import numpy as np

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
    import numpy as np

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


class QuestionAnsweringRunner:
    """One loaded model + fast tokenizer answering calls."""

    def __init__(self, model, tokenizer, batch_size=16):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("question-answering needs a fast tokenizer (it maps tokens back to characters)")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        # Right-padding tokenizers take (question, context); left-padding ones the reverse.
        self.question_first = tokenizer.padding_side == "right"

    def max_seq_len(self):
        """min(tokenizer limit, 384) like transformers 4; a tokenizer without a limit gets the
        model's position count instead of crashing past it."""
        limit = self.tokenizer.model_max_length
        if limit > 1_000_000:
            limit = getattr(self.model.config, "max_position_embeddings", None) or 512
        return min(limit, 384)

    def __call__(self, inputs, **args):
        """{"answer", "score", "start", "end"} for one input, else a list with one entry per
        input; each entry is a list of answers when top_k > 1."""
        unknown = sorted(set(args) - set(OPTIONS))
        if unknown:
            raise TypeError("question-answering got unexpected args %s; it accepts %s"
                            % (", ".join(unknown), ", ".join(OPTIONS)))
        top_k = args.get("top_k", args.get("topk", 1))
        max_answer_len = args.get("max_answer_len", 15)
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError("top_k parameter should be >= 1 (got %r)" % (top_k,))
        if not isinstance(max_answer_len, int) or max_answer_len < 1:
            raise ValueError("max_answer_len parameter should be >= 1 (got %r)" % (max_answer_len,))
        pairs = [parse_input(item) for item in ([inputs] if isinstance(inputs, dict) else inputs)]
        encoded, logits = self.forward(pairs, args)
        windows = {}
        for feature, sample in enumerate(encoded["overflow_to_sample_mapping"]):
            windows.setdefault(int(sample), []).append(feature)
        answers = [self.answer(pairs[i][1], encoded, logits, windows.get(i, []), top_k, max_answer_len,
                               bool(args.get("handle_impossible_answer", False)),
                               bool(args.get("align_to_words", True)))
                   for i in range(len(pairs))]
        return answers[0] if len(answers) == 1 else answers

    def forward(self, pairs, args):
        """Tokenized windows of every pair and their (start, end) logits as numpy arrays."""
        import numpy as np
        import torch

        max_seq_len = args.get("max_seq_len") or self.max_seq_len()
        doc_stride = args.get("doc_stride") or min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError("`doc_stride` (%s) is larger than `max_seq_len` (%s)" % (doc_stride, max_seq_len))
        questions, contexts = [p[0] for p in pairs], [p[1] for p in pairs]
        try:
            encoded = self.tokenizer(
                text=questions if self.question_first else contexts,
                text_pair=contexts if self.question_first else questions,
                padding="max_length" if args.get("padding") == "max_length" else "longest",
                truncation="only_second" if self.question_first else "only_first",
                max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
                return_overflowing_tokens=True, return_offsets_mapping=True)
        except (TypeError, ValueError):
            raise
        except Exception as e:  # tokenizers' own errors, e.g. a question longer than max_seq_len
            raise ValueError("%s (lower doc_stride or raise max_seq_len)" % e) from e
        names = [n for n in self.tokenizer.model_input_names if n in encoded]
        starts, ends = [], []
        size = max(int(args.get("batch_size") or self.batch_size), 1)
        count = len(encoded["input_ids"])
        with torch.inference_mode():
            for first in range(0, count, size):
                batch = {n: torch.tensor(encoded[n][first:first + size], device=self.model.device) for n in names}
                output = self.model(**batch)
                starts.append(output.start_logits.float().cpu().numpy())
                ends.append(output.end_logits.float().cpu().numpy())
        return encoded, (np.concatenate(starts), np.concatenate(ends))

    def allowed_tokens(self, encoded, feature):
        """True where a token may be part of an answer: context tokens, and CLS (no answer)."""
        import numpy as np

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

    def answer(self, context, encoded, logits, features, top_k, max_answer_len, impossible, align_to_words):
        """The best answers for one input over all its windows, merging equal answer texts."""
        min_null_score = 1000000.0
        answers = []
        for feature in features:
            allowed, null_index = self.allowed_tokens(encoded, feature)
            spans, null_score = window_spans(logits[0][feature], logits[1][feature], allowed, null_index,
                                             top_k, max_answer_len)
            min_null_score = min(min_null_score, null_score)
            enc = encoded.encodings[feature]
            for s, e, score in spans:
                start, end = self.char_span(enc, s, e, align_to_words)
                text = context[start:end]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score
                else:
                    answers.append({"score": score, "start": start, "end": end, "answer": text})
        if impossible:
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
