"""pgml.transform / transform_stream: any Hugging Face pipeline from SQL.

The task object is `{"task": ..., "model": ..., <pipeline/from_pretrained kwargs>}`; `args`
are the call's kwargs. Pipelines are cached per connection by the whole task object.
Summarization, translation, text2text and question answering were removed from
transformers 5: seq2seq.py and question_answering.py register pipelines for them with
transformers' PIPELINE_REGISTRY (as "pgml-<task>"), built by pipeline() like every other task.
"""
import contextlib
import json

from .. import cache, device, errors, models_store, server_files, threads
from . import hub
from .generation import generation_args, interrupt_check

# Task names PostgresML accepts that transformers spells differently.
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification",
           "text2text": "text2text-generation"}
CHAT_TASKS = ("conversational", "conversation", "chat")
# Task-object keys that are ours, not the pipeline's. "model_type" (PostgresML's GGML loader's
# key) names what the model's config.json already says: absorbed there, never passed to
# pipeline()/generate(), which reject it.
OWN_KEYS = ("task", "model", "project", "cache", "device", "device_map", "torch_dtype", "dtype", "model_type")


# A saved model's config.json `architectures` (class name endings) -> its pipeline task, for a
# task object without "task", longest ending first. Tried in order.
ARCHITECTURE_TASKS = (
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForSeq2SeqLM", "text2text-generation"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"),
    ("ForImageClassification", "image-classification"),
    ("ForAudioClassification", "audio-classification"),
    ("ForObjectDetection", "object-detection"),
    ("ForZeroShotImageClassification", "zero-shot-image-classification"),
    ("ForVision2Seq", "image-to-text"),
)
# ...ForConditionalGeneration names a seq2seq model, except for these families.
CONDITIONAL_GENERATION = (("Whisper", "automatic-speech-recognition"), ("Speech", "automatic-speech-recognition"),
                          ("Blip", "image-to-text"), ("Pix2Struct", "image-to-text"))
NO_TASK_HINT = ('Add "task" to the task object, e.g. {"task": "text-classification", "model": "%s"}.')


def task_of_architectures(architectures):
    """The pipeline task for config.json's `architectures`, or None."""
    for name in architectures or ():
        if not isinstance(name, str):
            continue
        for ending, task in ARCHITECTURE_TASKS:
            if name.endswith(ending):
                return task
        if name.endswith("ForConditionalGeneration"):
            for family, task in CONDITIONAL_GENERATION:
                if name.startswith(family):
                    return task
            return "text2text-generation"
    return None


def infer_task(model, settings):
    """The task of a task object that names only a model: from the saved config's architectures
    when the model is in the store (no network), else from the hub's pipeline_tag through
    transformers' own get_task (what pipeline() does), when online."""
    path = models_store.resolve(model, settings.model_store)
    if path != model:
        import os
        try:
            with open(os.path.join(path, "config.json")) as f:
                architectures = json.load(f).get("architectures")
        except (OSError, ValueError, AttributeError) as e:
            raise errors.InvalidParameter(
                'the task of model "%s" cannot be inferred: its config.json cannot be read' % model,
                detail="%s: %s" % (type(e).__name__, e), hint=NO_TASK_HINT % model)
        task = task_of_architectures(architectures)
        if task is None:
            raise errors.InvalidParameter(
                'the task of model "%s" cannot be inferred from its architectures' % model,
                detail="config.json architectures: %s." % json.dumps(architectures), hint=NO_TASK_HINT % model)
        return task
    if settings.huggingface_offline:
        raise errors.InvalidParameter(
            'the task of model "%s" cannot be inferred offline: it is not in the model store' % model,
            hint=NO_TASK_HINT % model)
    hub.check_allowed(model, False, settings)
    hub.cancellable_downloads()
    from transformers.pipelines import get_task
    try:
        return get_task(model)
    except RuntimeError as e:
        raise errors.InvalidParameter('the task of model "%s" cannot be inferred: %s' % (model, e),
                                      hint=NO_TASK_HINT % model)


def parse_task(task, settings=None):
    """The task object from the TEXT or JSONB `task` argument (already parsed JSON or text).
    Without "task" but with a "model", the task is inferred (settings given: infer_task)."""
    if isinstance(task, str):
        text = task.strip()
        if text.startswith("{"):
            try:
                task = json.loads(text)  # (+) a JSON object passed as TEXT
            except ValueError:
                task = {"task": task}
        else:
            task = {"task": task}
    if not isinstance(task, dict):
        raise errors.bad_argument("task", "a task name or a JSON object", json.dumps(task))
    if "task" not in task and isinstance(task.get("model"), str) and task["model"] and settings is not None:
        task = dict(task, task=infer_task(task["model"], settings))
    if not isinstance(task.get("task"), str) or not task["task"]:
        raise errors.InvalidParameter(
            "the task object has no \"task\"",
            detail="Got %s." % json.dumps(task)[:200],
            hint='Pass e.g. {"task": "text-classification", "model": "org/name"}.')
    return dict(task)


def normalize_task_name(name):
    name = name.strip().lower()
    return ALIASES.get(name, name)


def is_chat(task_name):
    return task_name in CHAT_TASKS


def takes_chat(task_name):
    """Whether chat messages (JSONB[] inputs) are valid: conversational, and text-generation,
    whose Hugging Face pipeline renders them with the model's chat template."""
    return is_chat(task_name) or task_name == "text-generation"


def torch_dtype(name):
    """A dtype name ("float16", "torch.bfloat16", "auto") as from_pretrained expects it."""
    if not isinstance(name, str) or name == "auto":
        return name
    import torch
    dtype = getattr(torch, name.replace("torch.", ""), None)
    if not isinstance(dtype, torch.dtype):
        raise errors.bad_argument("torch_dtype", "a torch dtype name such as float16", repr(name))
    return dtype


def check_quantization(task):
    """Quantization needs bitsandbytes; say what to install instead of failing deep inside."""
    if task.get("load_in_4bit") or task.get("load_in_8bit") or task.get("quantization_config"):
        import importlib.util
        if importlib.util.find_spec("bitsandbytes") is None:
            raise errors.MissingDependency(
                "quantized loading needs the bitsandbytes package, which is not installed",
                hint="Install it with `make install PGML_EXTRAS=bitsandbytes` (it needs a CUDA GPU), "
                     "or remove load_in_4bit/load_in_8bit/quantization_config.")


def check_task_name(name):
    """ERROR for a task no pipeline (transformers' nor ours) implements."""
    if is_chat(name) or is_removed_task(name):
        return
    from transformers.pipelines import check_task
    try:
        check_task(name)
    except KeyError as e:
        raise errors.InvalidParameter('unknown task "%s"' % name, detail=str(e).strip("'\"")[:500],
                                      hint="Use a Hugging Face pipeline task name, e.g. text-classification.")


def is_removed_task(name):
    """A task transformers 5 removed (and refuses by name), which our pipelines provide."""
    return name.startswith(("summarization", "translation", "text2text-generation")) or name == "question-answering"


def pipeline_task(name):
    """The task name pipeline() builds: for a task transformers 5 removed, our registered
    "pgml-<task>" (registered on first use; this imports torch)."""
    if name == "question-answering":
        from . import question_answering
        return question_answering.register(name)
    if is_removed_task(name):
        from . import seq2seq
        return seq2seq.register(name)
    return name


def load_pipeline(task, settings, restored=False):
    """The transformers pipeline for the task object (ours, through transformers' registry, for
    the tasks transformers 5 removed). restored: "model" is a tuned model that pgml.tune checked
    when it loaded the base model."""
    name = normalize_task_name(task["task"])
    check_task_name(name)
    model = task.get("model")
    hub.as_bool(task.get("trust_remote_code", False), "trust_remote_code")
    if restored and hub.asks_for_remote_code(task):
        raise errors.InsufficientPrivilege(
            "a tuned model never runs remote code", detail="Its files come from pgml.files.",
            hint="Remove trust_remote_code and custom_generate from the task object.")
    if model is None and hub.asks_for_remote_code(task):
        raise errors.InvalidParameter("trust_remote_code needs a model", hint='Add "model" to the task object.')
    if model is not None and not restored:
        hub.check_allowed(model, False, settings)
    trust = False if restored or model is None else hub.remote_code(model, settings, task)
    check_quantization(task)

    kwargs = hub.without_remote_code({k: v for k, v in task.items() if k not in OWN_KEYS})
    kwargs["trust_remote_code"] = trust  # always explicit: transformers never prompts
    if "use_auth_token" in kwargs:
        kwargs["token"] = kwargs.pop("use_auth_token")
    dtype = task.get("torch_dtype", task.get("dtype"))
    if dtype is not None:
        kwargs["dtype"] = torch_dtype(dtype)
    if "device_map" in task:
        kwargs["device_map"] = task["device_map"]
        device_name = str(task["device_map"])
    else:
        device_name = device.choose(task.get("device"), settings.device)

    path = models_store.resolve(model, settings.model_store) if model else None
    local = path is not None and path != model
    if model is None and settings.huggingface_offline:
        raise errors.InvalidParameter(
            'task "%s" has no model, and its default model cannot be downloaded offline' % name,
            hint='Pass a model that is in the model store: {"task": "%s", "model": "org/name"}.' % name)

    if not local and not settings.huggingface_offline:
        hub.cancellable_downloads()
    try:
        if is_chat(name):
            name = "text-generation"
        from transformers import pipeline
        if not local and model:
            model_kwargs = dict(kwargs.pop("model_kwargs", {}))
            model_kwargs.setdefault("cache_dir", models_store.hub_cache_dir(settings.model_store))
            kwargs["model_kwargs"] = model_kwargs
        if "device_map" not in kwargs:
            kwargs["device"] = device_name
        pipe = pipeline(task=pipeline_task(name), model=path, **kwargs)
        if name == "feature-extraction" and local and device_name == "cpu" and not restored:
            from . import backends  # the runtime pgml.embed measured for this model, if faster
            backends.install_feature_extraction(pipe, model, path, settings)
        tokenizer, limit = getattr(pipe, "tokenizer", None), max_length(pipe)
        if tokenizer is not None and isinstance(limit, int) and tokenizer.model_max_length > 10 ** 6:
            tokenizer.model_max_length = limit  # tokenizers saved without it would never truncate
        return pipe
    except errors.PgmlError:
        raise
    except TypeError as e:
        raise errors.InvalidParameter("the task object has an option the pipeline does not accept: %s" % e,
                                      hint="Remove the unknown key from the task object.")
    except (OSError, ValueError) as e:
        refused = hub.code_refused(model or name, e)
        if refused is not None:
            raise refused
        if model and not local:
            raise models_store.not_found(model, settings.model_store, settings.huggingface_offline, e)
        raise errors.InvalidParameter('could not create the "%s" pipeline: %s' % (name, e),
                                      hint="Check the task name and that the model fits the task.")


def load_restored(db, model_id, task, settings):
    from . import tuned
    with tuned.restored_directory(db, model_id, settings) as path, tuned.damaged_files_reported(model_id):
        return load_pipeline(dict(task, model=path), settings, restored=True)


def task_paths(task, settings):
    """The server paths a task object names (its model, cache_dir, subfolder ...), for
    server_files.check; a tuned project's files come from the catalog."""
    options = {k: v for k, v in task.items() if k not in ("task", "model", "project")}
    return (server_files.model_path(task.get("model"), settings.model_store)
            + server_files.named_paths(options, "the task object"))


def get_pipeline(task, settings, db=None):
    use_cache = hub.as_bool(task.get("cache", True), "cache")
    server_files.check(db, task_paths(task, settings))  # before the cache: SET ROLE changes who asks
    key = ("transform", json.dumps(task, sort_keys=True, default=str), settings.device)
    if normalize_task_name(task["task"]) == "feature-extraction":  # its runtime follows the setting
        key += (settings.embed_backend,)
    if "project" in task:  # (+) a project's deployed tuned model, e.g. {"task": ..., "project": "p"}
        from . import tuned
        model_id = tuned.deployed_model_id(db, task["project"])
        key, model = key + (model_id,), "model %d" % model_id
        load = lambda: load_restored(db, model_id, task, settings)  # noqa: E731
    else:
        model, load = task.get("model") or task["task"], lambda: load_pipeline(task, settings)
    return cache.models.get_or_load(key, "transform", model, None,  # None: where the pipeline runs
                                    load, settings.cache_max_models, use_cache)


# generate() options that count something and divide by it (num_beams 0: ZeroDivisionError).
@contextlib.contextmanager
def chat_template(pipe, template):
    """The call's chat_template for this call only: the pipeline is cached and shared."""
    tokenizer = getattr(pipe, "tokenizer", None)
    if template is None or tokenizer is None:
        yield
        return
    saved = tokenizer.chat_template
    tokenizer.chat_template = template
    try:
        yield
    finally:
        tokenizer.chat_template = saved


def to_json(value):
    """numpy/torch values and images (segmentation masks, depth maps) to plain JSON, by orjson:
    feature extraction returns every token's vector (1.8 million numbers for 300 sentences),
    which orjson writes from the float32 arrays in 0.06 s where json.dumps of Python floats took
    0.85 s, in their shortest float32 form (the same float32 values, half the text)."""
    import orjson

    def default(obj):
        from . import media
        image = media.image_json(obj)
        if image is not None:
            return image
        if hasattr(obj, "detach"):  # a torch tensor: as numpy, which orjson writes itself
            tensor = obj.detach().cpu()
            array = (tensor.float() if tensor.is_floating_point() else tensor).numpy()  # bf16: no numpy type
            return array if array.flags.c_contiguous else array.tolist()
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if hasattr(obj, "item"):
            return obj.item()
        raise TypeError("cannot serialize %s" % type(obj).__name__)
    return orjson.dumps(value, default=default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def prepare_inputs(task_name, inputs, chat_inputs, byte_inputs=None):
    """The pipeline's inputs: strings, question/context dicts, one chat (list of messages), or
    decoded audio/images for BYTEA[] inputs."""
    if byte_inputs is not None:
        if not byte_inputs:
            raise errors.InvalidParameter("inputs must not be empty",
                                          hint="Pass inputs => ARRAY[pg_read_binary_file('a.wav')].")
        from . import media
        return media.decode(task_name, list(byte_inputs))
    if chat_inputs is not None:
        if not takes_chat(task_name):
            raise errors.InvalidParameter(
                "inputs for transform should only be used with a conversational or text-generation task",
                detail='The task is "%s"; JSONB inputs are chat messages.' % task_name,
                hint='Pass TEXT[] inputs, or use {"task": "text-generation", "model": ...} with a chat model.')
        messages = [json.loads(m) if isinstance(m, str) else m for m in chat_inputs]
        if not messages or not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
            raise errors.InvalidParameter(
                'chat inputs must be messages like {"role": "user", "content": "..."}',
                hint="Pass ARRAY['{\"role\": \"user\", \"content\": \"Hi\"}'::jsonb].")
        return [messages]
    if not inputs:
        raise errors.InvalidParameter("inputs must not be empty",
                                      hint="Pass inputs => ARRAY['some text'].")
    if task_name == "question-answering":
        parsed = []
        for item in inputs:
            try:
                value = json.loads(item)
            except (TypeError, ValueError):
                value = None
            if not isinstance(value, dict) or "question" not in value or "context" not in value:
                raise errors.InvalidParameter(
                    "question-answering inputs must be JSON objects with question and context",
                    detail="Got %s." % str(item)[:200],
                    hint='Pass ARRAY[\'{"question": "...", "context": "..."}\'].')
            parsed.append(value)
        return parsed
    return list(inputs)


GENERATING_TASKS = ("text-generation", "summarization", "translation", "text2text-generation")


def is_generating(task_name):
    return is_chat(task_name) or task_name.startswith(GENERATING_TASKS)


def run(task, args, inputs=None, chat_inputs=None, settings=None, check_for_interrupts=None,
        byte_inputs=None, db=None):
    """The pipeline output for inputs, shaped as PostgresML returns it, as JSON text."""
    task = parse_task(task, settings)
    name = normalize_task_name(task["task"])
    check_task_name(name)
    prepared = prepare_inputs(name, inputs, chat_inputs, byte_inputs)
    args = hub.call_args(args, None if "project" in task else task.get("model"), settings, db)
    pipe = get_pipeline(task, settings, db)
    if byte_inputs is not None:
        from . import media
        prepared = media.for_pipeline(name, prepared, pipe)  # resampled to the model's rate
    args = generation_args(args, pipe) if is_generating(name) else args
    args.pop("cache", None)
    if check_for_interrupts and is_generating(name):
        from transformers import StoppingCriteriaList
        criteria = StoppingCriteriaList(args.pop("stopping_criteria", []))
        criteria.append(interrupt_check(check_for_interrupts))
        args["stopping_criteria"] = criteria
    if name == "text-classification":
        args.setdefault("truncation", True)  # long texts are cut to the model's length
    if name == "feature-extraction":
        args.setdefault("return_tensors", True)  # float32 tensors for to_json, not Python floats
    try:
        with threads.torch_call(settings.omp_num_threads):
            if chat_inputs is not None:  # one chat, rendered with the model's (or the call's) template
                with chat_template(pipe, args.pop("chat_template", None)):
                    output = pipe(prepared[0], **args)
                # conversational: ["reply"]; text-generation: the pipeline's own output, as
                # Hugging Face's text-generation pipeline gives it for messages (PostgresML passes it on)
                return to_json([reply(output)] if is_chat(name) else output)
            output = pipe(prepared, **args)
    except (TypeError, ValueError) as e:
        raise errors.InvalidParameter("the %s pipeline rejected args: %s" % (name, e),
                                      hint="Check args against the pipeline's call options.")
    except (RuntimeError, IndexError) as e:
        raise errors.InvalidParameter(
            "the %s pipeline failed on these inputs: %s" % (name, e),
            detail="The model accepts at most %s tokens." % max_length(pipe),
            hint='Shorten the inputs, pass {"truncation": true} in args, or generate fewer tokens.')
    if name == "fill-mask" and len(prepared) == 1 and output and isinstance(output[0], list):
        output = output[0]
    return to_json(output)


def max_length(pipe):
    config = getattr(getattr(pipe, "model", None), "config", None)
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", "?")


def reply(output):
    """The assistant's new message from a text-generation pipeline's chat output."""
    generated = output[0]["generated_text"] if isinstance(output, list) else output["generated_text"]
    if isinstance(generated, list):
        return generated[-1]["content"]
    return generated
