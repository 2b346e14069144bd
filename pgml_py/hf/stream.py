"""pgml.transform_stream: rows of generated text as the model produces them.

generate() runs in a background thread feeding a TextIteratorStreamer; this thread yields
each chunk as a row. Only this thread talks to PostgreSQL: while it waits for the next chunk
it lets statement_timeout / pg_cancel_backend fire, and then tells generate() to stop.
"""
import json
import queue
import threading

from .. import errors, threads
from . import generation, hub, transform

POLL_SECONDS = 0.1


def prompt_ids(pipe, text_input, chat_inputs, template=None):
    """Token ids of the prompt: the text, or the chat rendered with the model's template (or
    the call's chat_template)."""
    tokenizer = pipe.tokenizer
    if chat_inputs is not None:
        messages = transform.prepare_inputs("conversational", None, chat_inputs)[0]
        template = template or getattr(tokenizer, "chat_template", None)
        if not template:
            raise errors.InvalidParameter(
                "the model has no chat template, so chat inputs cannot be rendered",
                hint='Pass args => \'{"chat_template": "..."}\' or use a chat model.')
        return tokenizer.apply_chat_template(messages, chat_template=template, add_generation_prompt=True,
                                             return_tensors="pt", return_dict=True)
    return tokenizer(text_input, return_tensors="pt")


def stream(task, args, text_input=None, chat_inputs=None, settings=None, check_for_interrupts=None, db=None):
    """Yields JSON arrays of strings (normally one chunk each) that concatenate to the reply."""
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    task = transform.parse_task(task, settings)
    name = transform.normalize_task_name(task["task"])
    if chat_inputs is not None and not transform.takes_chat(name):
        transform.prepare_inputs(name, None, chat_inputs)  # raises: chat inputs need a chat task
    if not (transform.is_chat(name) or name == "text-generation"):
        raise errors.InvalidParameter(
            'transform_stream streams text generation, not "%s"' % name,
            hint='Use {"task": "text-generation"} or "conversational", or pgml.transform.')
    args = hub.call_args(args, None if "project" in task else task.get("model"), settings, db)
    pipe = transform.get_pipeline(task, settings, db)
    args = generation.generation_args(args, pipe)
    args.pop("cache", None)
    inputs = prompt_ids(pipe, text_input, chat_inputs, args.pop("chat_template", None))
    inputs = {k: v.to(pipe.model.device) for k, v in inputs.items()}

    stop = threading.Event()

    class StopWhenAsked(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return stop.is_set()

    streamer = TextIteratorStreamer(pipe.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                    timeout=POLL_SECONDS)
    criteria = StoppingCriteriaList(args.pop("stopping_criteria", []))
    criteria.append(StopWhenAsked())
    failure = []
    n_threads = threads.for_call(settings.omp_num_threads)

    def generate():
        try:
            import torch
            threads.set_torch_threads(n_threads)  # this thread's own pool (torch's count is per thread)
            with torch.inference_mode():
                pipe.model.generate(**inputs, **args, streamer=streamer, stopping_criteria=criteria)
        except Exception as e:  # re-raised in the main thread
            failure.append(e)
            streamer.end()

    worker = threading.Thread(target=generate, name="pgml-transform-stream", daemon=True)
    worker.start()
    try:
        while True:
            try:
                chunk = next(streamer)
            except queue.Empty:
                if check_for_interrupts:
                    check_for_interrupts()
                continue
            except StopIteration:
                break
            if failure:
                break
            if chunk:
                yield json.dumps([chunk])
            if check_for_interrupts:
                check_for_interrupts()
    finally:
        stop.set()
        worker.join()
    if failure:
        e = failure[0]
        if isinstance(e, (TypeError, ValueError)):
            raise errors.InvalidParameter("generate() rejected args: %s" % e,
                                          hint="Check args against generate()'s options.")
        if isinstance(e, (RuntimeError, IndexError)):
            raise errors.InvalidParameter(
                "generation failed on this input: %s" % e,
                detail="The model accepts at most %s tokens." % transform.max_length(pipe),
                hint="Shorten the input or generate fewer tokens (max_new_tokens).")
        raise e
