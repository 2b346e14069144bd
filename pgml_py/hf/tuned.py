"""Models made by pgml.tune: loading the base model, restoring a tuned one from pgml.files,
and using it (pgml.predict for classifiers, pgml.generate, pgml.transform with "project").

A LoRA tune stores only its adapter (safetensors) with the tokenizer and pgml_tune.json, which
names the base model: restoring loads the base (model store or hub, same rules as transform),
applies the adapter and merges it. A full tune ("lora": false) stores the whole model. Files are
loaded with safetensors only: a files row altered by SQL cannot run code."""
import contextlib
import json
import os
import shutil
import tempfile

from .. import catalog, device, errors, models_store, server_files
from . import hub

META_FILE = "pgml_tune.json"
CLASSIFICATION = ("text_classification", "text_pair_classification")
SEQ2SEQ = ("translation", "summarization", "text2text")
DEFAULT_PROMPT = "{system}\n{user}\n{assistant}{eos_token}"


def model_class(task):
    import transformers
    if task in CLASSIFICATION:
        return transformers.AutoModelForSequenceClassification
    if task in SEQ2SEQ:
        return transformers.AutoModelForSeq2SeqLM
    return transformers.AutoModelForCausalLM


def label_config(classes):
    """from_pretrained kwargs giving a classifier one output per class, named by the class."""
    names = [str(c) for c in classes]
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)}, "ignore_mismatched_sizes": True}


def load_base(task, model_name, options, settings, classes=None, trust=False):
    """(model, tokenizer) of `model_name` for the task: the model store first, then the hub.
    trust: the trust_remote_code decided by the caller (pgml.tune's hyperparams and the settings,
    or for a restore the settings alone); any flag in options is ignored."""
    hub.check_allowed(model_name, False, settings)
    path = models_store.resolve(model_name, settings.model_store)
    local = path != model_name
    options = hub.without_remote_code(options)
    kwargs = {"trust_remote_code": bool(trust)}
    if not local:
        kwargs["cache_dir"] = models_store.hub_cache_dir(settings.model_store)
        kwargs["local_files_only"] = settings.huggingface_offline
        if not settings.huggingface_offline:
            hub.cancellable_downloads()
    if options.get("token"):
        kwargs["token"] = options["token"]
    tokenizer_kwargs = dict(kwargs, **options.get("tokenizer_args", {}))
    if options.get("device_map") is not None:
        kwargs["device_map"] = options["device_map"]
    if options.get("load_in_8bit"):
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    if task in CLASSIFICATION:
        kwargs.update(label_config(classes))
    from transformers import AutoTokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **tokenizer_kwargs)
        model = model_class(task).from_pretrained(path, **kwargs)
    except ImportError as e:  # load_in_8bit without bitsandbytes, ...
        raise errors.MissingDependency("loading %s needs a package that is not installed: %s" % (model_name, e),
                                       hint="Install it into the pgml venv (bitsandbytes: make install PGML_EXTRAS=bitsandbytes), "
                                            "or drop the option (load_in_8bit).")
    except (OSError, ValueError) as e:
        refused = hub.code_refused(model_name, e)
        if refused is not None:
            raise refused
        if not local:
            raise models_store.not_found(model_name, settings.model_store, settings.huggingface_offline, e)
        raise errors.InvalidParameter('could not load model "%s" for %s: %s' % (model_name, task, e),
                                      hint="Check that the model fits the task (e.g. a seq2seq model for %s)." % task)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 and Llama have none: pad with eos
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def prompt_parts(tokenizer, template, system, user, assistant):
    """(prompt, full text) of one conversation turn: the prompt_template when given, else the
    tokenizer's chat template, else DEFAULT_PROMPT. Training learns the text after the prompt."""
    eos = tokenizer.eos_token or ""
    if template is None and getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if assistant is None:
            return prompt, None
        full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": assistant}], tokenize=False)
        if not full.startswith(prompt):  # templates that render the last turn differently
            full = prompt + assistant
        if eos and not full.rstrip().endswith(eos):
            full += eos
        return prompt, full
    template = template or DEFAULT_PROMPT
    if "{assistant}" not in template:
        raise errors.bad_argument("prompt_template", "a text with {assistant} in it", json.dumps(template))
    try:
        before = template.split("{assistant}")[0]
        prompt = before.format(system=system or "", user=user, eos_token=eos)
        full = None if assistant is None else template.format(system=system or "", user=user,
                                                              assistant=assistant, eos_token=eos)
    except (KeyError, IndexError, ValueError) as e:
        raise errors.bad_argument("prompt_template", "a text using only {system}, {user}, {assistant}, {eos_token}",
                                  "%s (%s)" % (json.dumps(template), e)) from None
    return prompt, full


# ---- files ↔ catalog ---------------------------------------------------------------------

def directory_files(directory):
    """[(relative path, bytes)] of every file under directory, sorted."""
    out = []
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out.append((os.path.relpath(path, directory), f.read()))
    return sorted(out)


def write_files(db, model_id, directory):
    """Writes the model's pgml.files rows (parts joined) under directory; returns the meta."""
    files = catalog.model_files(db, model_id)
    if META_FILE not in files:
        raise errors.DataError("model %d has no %s: it was not made by pgml.tune" % (model_id, META_FILE),
                               hint="Tune the project again.")
    root = os.path.realpath(directory)
    for path, data in files.items():
        target = os.path.realpath(os.path.join(root, path))
        if not target.startswith(root + os.sep) or path.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle")):
            raise errors.DataCorrupted('model %d has a file pgml will not load: "%s"' % (model_id, path),
                                       hint="pgml.files rows of tuned models hold safetensors and JSON only; tune again.")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
    try:
        return json.loads(files[META_FILE])
    except ValueError as e:
        raise errors.DataError("model %d: %s is not valid JSON: %s" % (model_id, META_FILE, e),
                               hint="Tune the project again.") from None


def load_tuned(db, directory, meta, settings):
    """(model, tokenizer) from a directory written by write_files. Nothing stored turns remote
    code on: the directory's own files never run code, and the base model runs its code only when
    an administrator listed it by name in pgml.huggingface_trust_remote_code_whitelist. The base
    model and stored load options are checked for server paths as the caller."""
    from transformers import AutoTokenizer
    task = meta["task"]
    if meta.get("lora"):
        from peft import PeftModel
        options = meta.get("load") if isinstance(meta.get("load"), dict) else {}
        server_files.check(db, server_files.model_path(meta["base_model"], settings.model_store, "the base model")
                           + server_files.named_paths(options, "the stored load options"))
        base, _ = load_base(task, meta["base_model"], options, settings, meta.get("classes"),
                            trust=hub.trusts_by_name(meta["base_model"], settings))
        model = PeftModel.from_pretrained(base, directory).merge_and_unload()
    else:
        kwargs = label_config(meta["classes"]) if task in CLASSIFICATION else {}
        kwargs.pop("ignore_mismatched_sizes", None)
        model = model_class(task).from_pretrained(directory, use_safetensors=True, trust_remote_code=False, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
    return model, tokenizer


@contextlib.contextmanager
def damaged_files_reported(model_id):
    """A load of what pgml.files holds that fails on its contents (a pickle or other bytes where
    safetensors should be, broken JSON) is XX001 data_corrupted."""
    from safetensors import SafetensorError
    try:
        yield
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as e:
        raise errors.DataCorrupted("model %d could not be restored: %s: %s" % (model_id, type(e).__name__, e),
                                   hint="Its files in pgml.files are damaged, or its base model changed; tune again.") from None


def restore(db, model_id, settings):
    """The Tuned model of model_id, loaded from pgml.files (the caller caches it)."""
    with tempfile.TemporaryDirectory(prefix="pgml-tuned-") as directory:
        meta = write_files(db, model_id, directory)
        with damaged_files_reported(model_id):
            model, tokenizer = load_tuned(db, directory, meta, settings)
    model.to(device.choose(None, settings.device))
    model.eval()
    return Tuned(meta, model, tokenizer)


def deployed_model_id(db, project_name):
    """The project's deployed model, which must be a tuned one (pgml.transform's "project")."""
    if not isinstance(project_name, str):
        raise errors.bad_argument("project", "a project name", json.dumps(project_name))
    model_id = catalog.deployed_model_id(db, project_name)
    if catalog.successful_model(db, model_id)["algorithm"] != "transformers":
        raise errors.InvalidParameter('project "%s" was not made by pgml.tune' % project_name,
                                      hint="pgml.transform runs tuned projects only; use pgml.predict for this one.")
    return model_id


@contextlib.contextmanager
def restored_directory(db, model_id, settings):
    """A directory holding the whole tuned model (adapter merged), removed afterwards: what
    transformers.pipeline loads for pgml.transform's {"project": ...}."""
    directory = tempfile.mkdtemp(prefix="pgml-tuned-")
    try:
        meta = write_files(db, model_id, directory)
        if meta.get("lora"):
            with damaged_files_reported(model_id):
                model, tokenizer = load_tuned(db, directory, meta, settings)
            shutil.rmtree(directory)
            os.makedirs(directory)
            model.save_pretrained(directory)
            tokenizer.save_pretrained(directory)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ---- inference ---------------------------------------------------------------------------

class Tuned:
    """A restored tuned model: classify (pgml.predict) or generate (pgml.generate)."""
    is_tuned = True

    def __init__(self, meta, model, tokenizer):
        self.meta, self.model, self.tokenizer = meta, model, tokenizer
        self.task = meta["task"]

    def predict(self, features):
        raise errors.InvalidParameter(
            "model of task %s takes text, not an array of features" % self.task.replace("_", "-"),
            hint="Call pgml.predict(project, 'some text')" if self.task in CLASSIFICATION
            else "Call pgml.generate(project, 'some text').")

    predict_proba = predict

    def predict_first(self, features, fast=None):
        """predict's single-row form (`fast`, for classic models' fast path, does not apply)."""
        return self.predict(features)

    def predict_row(self, value):
        """pgml.predict(project, text) → the class (its value when numeric, else its index)."""
        import torch
        if self.task not in CLASSIFICATION:
            raise errors.InvalidParameter("pgml.predict is for classifiers; this project is %s"
                                          % self.task.replace("_", "-"),
                                          hint="Use pgml.generate(project, text) for generation tasks.")
        pair = self.task == "text_pair_classification"
        texts = [v for _, v in value] if isinstance(value, list) else [value]
        if len(texts) != (2 if pair else 1) or not all(isinstance(t, str) for t in texts):
            raise errors.InvalidParameter(
                "this %s model takes %s" % (self.task.replace("_", "-"), "two texts" if pair else "one text"),
                hint="Call pgml.predict(project, ROW('first text', 'second text'))" if pair
                else "Call pgml.predict(project, 'some text'::text).")
        encoded = self.tokenizer(*[[t] for t in texts], truncation=True, return_tensors="pt").to(self.model.device)
        with torch.no_grad():
            index = int(self.model(**encoded).logits.argmax(-1)[0])
        value = self.meta["classes"][index]
        return float(value) if isinstance(value, (int, float)) else float(index)

    def generate(self, inputs, config, check_for_interrupts=None):
        """Decoded outputs for inputs; a conversation model answers each input as the user turn
        and returns only the reply."""
        import torch
        from .generation import generation_args, interrupt_check
        if self.task in CLASSIFICATION:
            raise errors.InvalidParameter("pgml.generate is for generation tasks; this project is %s"
                                          % self.task.replace("_", "-"),
                                          hint="Use pgml.predict(project, text) for classifiers.")
        if hub.asks_for_remote_code(config):
            raise errors.InsufficientPrivilege(
                "a tuned model never runs remote code",
                hint="Remove trust_remote_code and custom_generate from the config.")
        config = generation_args(config, self)
        if check_for_interrupts is not None:
            from transformers import StoppingCriteriaList
            config["stopping_criteria"] = StoppingCriteriaList([interrupt_check(check_for_interrupts)])
        outputs = []
        for text in inputs:
            prompt = text
            if self.task == "conversation":
                prompt, _ = prompt_parts(self.tokenizer, self.meta.get("prompt_template"), None, text, None)
            encoded = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=self.task != "conversation")
            encoded = encoded.to(self.model.device)
            try:
                with torch.no_grad():
                    generated = self.model.generate(**encoded, **config)
            except (TypeError, ValueError) as e:
                raise errors.InvalidParameter("generate() rejected config: %s" % e,
                                              hint="Pass generate() options such as max_new_tokens.") from None
            if self.task == "conversation":
                generated = generated[:, encoded["input_ids"].shape[1]:]
            outputs.append(self.tokenizer.decode(generated[0], skip_special_tokens=True).strip())
        return outputs
