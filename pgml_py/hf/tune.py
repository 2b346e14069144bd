"""pgml.tune: fine-tune a Hugging Face model on a table's text columns, with LoRA
adapters (peft) by default, and keep the result in the catalog like a trained model: a models
row with the evaluation metrics, the adapter (or whole model) as safetensors parts in
pgml.files, a pgml.logs row per logging step, automatic deploy. Everything happens in the
caller's transaction, so a tune that fails or is cancelled leaves the catalog as it was."""
import json
import math
import time

from .. import catalog, device, errors, interrupts, server_files, signals, workdirs
from ..ml import deploy, metrics, train as ml_train
from . import hub, tune_data, tuned

TASKS = tuple(tune_data.COLUMNS)
CLASSIFICATION, SEQ2SEQ = tune_data.CLASSIFICATION, tune_data.SEQ2SEQ
LORA_TASK_TYPES = {"text_classification": "SEQ_CLS", "text_pair_classification": "SEQ_CLS",
                   "conversation": "CAUSAL_LM", "translation": "SEQ_2_SEQ_LM",
                   "summarization": "SEQ_2_SEQ_LM", "text2text": "SEQ_2_SEQ_LM"}
DEFAULT_LORA = {"r": 2, "lora_alpha": 4, "lora_dropout": 0.05, "bias": "none"}
HYPERPARAM_KEYS = ("dataset_args", "training_args", "lora", "lora_config", "tokenizer_args", "max_seq_length",
                   "prompt_template", "token", "load_in_8bit", "device_map", "model_name", "project_name")
SECRET = "(hidden)"  # what the catalog keeps of hub tokens
TEXT_KEYS = ("dataset_args", "prompt_template", "model_name", "project_name")  # hyperparams that are not load options
DEFAULT_MAX_SEQ_LENGTH = 512
WORKDIR_PREFIX = "pgml-tune-"  # the Trainer's checkpoints and the saved model, in the server's temp dir


def normalize_task(task):
    name = str(task).strip().lower().replace("-", "_")
    if name not in TASKS:
        raise errors.InvalidParameter(
            'pgml.tune does not support the task "%s"' % task,
            hint="Use one of: %s. For tabular data use pgml.train." % ", ".join(t.replace("_", "-") for t in TASKS))
    return name


def check_hyperparams(hyperparams):
    unknown = sorted(set(hyperparams) - set(HYPERPARAM_KEYS))
    if unknown:
        raise errors.InvalidParameter(
            "unknown hyperparams key%s for pgml.tune: %s" % ("s" if len(unknown) > 1 else "", ", ".join(unknown)),
            hint="The keys are: %s. Trainer options go in training_args." % ", ".join(HYPERPARAM_KEYS))
    for key in ("dataset_args", "training_args", "lora_config", "tokenizer_args"):
        if not isinstance(hyperparams.get(key, {}), dict):
            raise errors.bad_argument("hyperparams.%s" % key, "a JSON object", json.dumps(hyperparams[key]))
    if not isinstance(hyperparams.get("lora", True), bool):
        raise errors.bad_argument("hyperparams.lora", "true or false", json.dumps(hyperparams["lora"]))
    if hyperparams.get("training_args", {}).get("enable_jit_checkpoint"):
        raise errors.InvalidParameter(
            "training_args.enable_jit_checkpoint is not supported inside PostgreSQL",
            detail="It replaces the server's SIGTERM handler, so pg_terminate_backend would stop working.",
            hint="Remove it: a tune that is stopped leaves the catalog as it was; run it again.")
    errors.check_positive_int("hyperparams.max_seq_length", hyperparams.get("max_seq_length"))


def catalog_hyperparams(hyperparams, model_name, project_name):
    """What pgml.models keeps: the call's hyperparams with model and project, hub tokens hidden."""
    kept = json.loads(json.dumps(hyperparams))
    if kept.get("token"):
        kept["token"] = SECRET
    if kept.get("training_args", {}).get("hub_token"):
        kept["training_args"]["hub_token"] = SECRET
    kept.update(model_name=model_name, project_name=project_name)
    return kept


def check_model(db, model_name, hyperparams, settings):
    """Access rules before anything is written: the whitelist, remote code asked for anywhere in
    hyperparams (tokenizer_args ...), server paths; returns the trust_remote_code to load with."""
    hub.check_allowed(model_name, False, settings)
    trust = hub.remote_code(model_name, settings, hyperparams)
    options = {k: v for k, v in hyperparams.items() if k not in TEXT_KEYS}
    server_files.check(db, server_files.model_path(model_name, settings.model_store)
                       + server_files.named_paths(options, "hyperparams"))
    return trust


def finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def tune(db, project_name, task=None, relation_name=None, y_column_name=None, model_name=None,
         hyperparams=None, test_size=0.25, test_sampling="stratified", automatic_deploy=True,
         materialize_snapshot=False, settings=None, progress=None, check_for_interrupts=None):
    """Returns [(project name, task with dashes, 'transformers', deployed)]."""
    notice = progress or (lambda message, force=False: None)
    if task is not None:
        task = normalize_task(task)  # before the project is created
    project_id, task = catalog.project_for(db, project_name, task)
    task = normalize_task(task)
    hyperparams = dict(hyperparams or {})
    check_hyperparams(hyperparams)
    model_name = model_name or hyperparams.get("model_name") or catalog.previous_model_name(db, project_id)
    if not model_name:
        raise errors.InvalidParameter("pgml.tune needs a model_name to fine-tune",
                                      hint="Pass model_name => 'org/name' (a hub name or a model in the model store).")
    trust = check_model(db, model_name, hyperparams, settings)
    dataset_args = hyperparams.get("dataset_args", {})
    names = tune_data.column_names(task, dataset_args, y_column_name)

    snapshot_id = ml_train.snapshot_for(db, project_id, task, relation_name, None, test_size, test_sampling,
                                        materialize_snapshot)
    notice("snapshot %d: reading rows" % snapshot_id, force=True)
    rows = tune_data.read(db, snapshot_id, task, names, explicit_roles=set(dataset_args))
    notice("snapshot %d: %d training rows, %d test rows" % (snapshot_id, len(rows), len(next(iter(rows.test.values())))),
           force=True)

    stored = catalog_hyperparams(hyperparams, model_name, project_name)
    model_id = catalog.insert_model(db, project_id, snapshot_id, 2 if task == "text_pair_classification" else 1,
                                    "transformers", stored)

    def log_step(record):
        catalog.insert_log(db, model_id, project_id, record)

    from .. import threads
    with workdirs.backend_directory(WORKDIR_PREFIX) as workdir, signals.preserved(), threads.busy().hold(), \
            threads.torch_threads_kept():
        model_metrics, files = fine_tune(task, model_name, hyperparams, rows, workdir, settings,
                                         notice, log_step, check_for_interrupts, trust)
    catalog.store_files(db, model_id, files)
    catalog.finish_model(db, model_id, model_metrics)
    deployed = False
    if automatic_deploy is None or automatic_deploy:
        target = metrics.target(task)[0]  # a missing target metric counts as 0
        deployed = deploy.automatic(db, project_id, task, model_id, dict({target: 0.0}, **model_metrics))
    return [(project_name, task.replace("_", "-"), "transformers", deployed)]


# ---- training ----------------------------------------------------------------------------

def fine_tune(task, model_name, hyperparams, rows, workdir, settings, notice, log_step, check_for_interrupts,
              trust=False):
    """Trains; returns (metrics, [(file path, bytes)]) of the model to store. trust: the
    trust_remote_code check_model decided (never stored: a restore decides again)."""
    import torch
    from .. import threads
    threads.set_torch_threads(threads.for_call(settings.omp_num_threads))
    lora = hyperparams.get("lora", True)
    load_options = hub.without_remote_code({k: hyperparams[k] for k in ("token", "tokenizer_args", "device_map",
                                                                         "load_in_8bit") if k in hyperparams})
    model, tokenizer = tuned.load_base(task, model_name, load_options, settings, rows.classes, trust)
    interrupts.point()  # a cancel during the imports and the load acts now, not at the first step
    if lora:
        model = with_lora(model, task, hyperparams.get("lora_config", {}))
    interrupts.watch(model)  # and before every forward pass (training steps, evaluation)
    max_length = hyperparams.get("max_seq_length") or min(tokenizer.model_max_length or DEFAULT_MAX_SEQ_LENGTH,
                                                          DEFAULT_MAX_SEQ_LENGTH)
    template = hyperparams.get("prompt_template")
    train_set, collator = encode(task, tokenizer, model, rows.train, rows.classes, max_length, template)
    test_set = None
    if len(next(iter(rows.test.values()))):
        test_set, _ = encode(task, tokenizer, model, rows.test, rows.classes, max_length, template)
    interrupts.point()
    device_name = device.choose(None, settings.device) if "device_map" not in hyperparams else None
    args = training_arguments(hyperparams.get("training_args", {}), workdir, device_name, test_set is not None)

    from transformers import Trainer
    callback = progress_callback(notice, log_step, check_for_interrupts)
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=test_set,
                      data_collator=collator, processing_class=tokenizer, callbacks=[callback])
    try:
        trainer.train()
    except (ValueError, TypeError, RuntimeError) as e:
        raise errors.InvalidParameter("training failed: %s: %s" % (type(e).__name__, e),
                                      hint="Check training_args, max_seq_length and the model against the task.")
    notice("evaluating on %d test rows" % (len(test_set) if test_set is not None else 0), force=True)
    model_metrics = evaluate(task, trainer, model, tokenizer, rows, test_set, max_length)
    for key in ("train_runtime", "train_loss", "train_samples_per_second", "train_steps_per_second"):
        value = callback.final.get(key)
        if finite(value):
            model_metrics[key] = float(value)
    model_metrics["fit_time"] = callback.final.get("train_runtime", 0.0)

    meta = {"format": 1, "task": task, "base_model": model_name, "lora": lora, "classes": rows.classes,
            "prompt_template": template, "max_seq_length": max_length,
            "load": {k: v for k, v in load_options.items() if k != "token"}}
    output = "%s/model" % workdir
    model.save_pretrained(output)  # a peft model saves only its adapter (safetensors)
    tokenizer.save_pretrained(output)
    with open("%s/%s" % (output, tuned.META_FILE), "w") as f:
        json.dump(meta, f)
    return model_metrics, [(path, data) for path, data in tuned.directory_files(output)
                           if path != "README.md"]  # peft's model card template


def with_lora(model, task, lora_config):
    from peft import LoraConfig, get_peft_model
    config = dict(DEFAULT_LORA, task_type=LORA_TASK_TYPES[task])
    config.update(lora_config)
    try:
        return get_peft_model(model, LoraConfig(**config))
    except (ValueError, TypeError, KeyError) as e:
        names = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                        if type(module).__name__ in ("Linear", "Conv1D", "Embedding")})
        raise errors.InvalidParameter(
            "lora_config does not fit model %s: %s" % (type(model).__name__, e),
            detail="The model's linear layers are named: %s." % ", ".join(names)[:800],
            hint='Set "target_modules" in lora_config to some of those names, or pass "lora": false.') from None


def encode(task, tokenizer, model, columns, classes, max_length, template):
    """(a datasets.Dataset of token ids and labels, its data collator)."""
    import datasets
    from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding
    if task in CLASSIFICATION:
        texts = [columns["text_column"]] if task == "text_classification" else \
            [columns["text1_column"], columns["text2_column"]]
        data = dict(tokenizer(*texts, truncation=True, max_length=max_length))
        index = {c: i for i, c in enumerate(classes)}
        data["labels"] = [index[c] for c in columns["class_column"]]
        return datasets.Dataset.from_dict(data), DataCollatorWithPadding(tokenizer)
    if task == "conversation":
        data = {"input_ids": [], "attention_mask": [], "labels": []}
        systems = columns.get("system_column") or [None] * len(columns["user_column"])
        for system, user, assistant in zip(systems, columns["user_column"], columns["assistant_column"]):
            prompt, full = tuned.prompt_parts(tokenizer, template, system, user, assistant)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = tokenizer(full, add_special_tokens=False)["input_ids"][:max_length]
            labels = ([-100] * len(prompt_ids) + ids[len(prompt_ids):])[:len(ids)]
            data["input_ids"].append(ids)
            data["attention_mask"].append([1] * len(ids))
            data["labels"].append(labels)
        return datasets.Dataset.from_dict(data), DataCollatorForSeq2Seq(tokenizer, padding=True)
    data = dict(tokenizer(columns["text_column"], text_target=columns["target_column"],
                          truncation=True, max_length=max_length))
    return datasets.Dataset.from_dict(data), DataCollatorForSeq2Seq(tokenizer, model=model, padding=True)


def training_arguments(user_args, workdir, device_name, has_test_rows):
    """TrainingArguments from the call's training_args; files go to a temporary directory
    (the catalog keeps the result), no reporting services, no progress bars in the server log."""
    from transformers import TrainingArguments
    args = dict(user_args)
    if "evaluation_strategy" in args:  # the name before transformers 4.46, as PostgresML's docs use it
        args.setdefault("eval_strategy", args.pop("evaluation_strategy"))
    args.pop("output_dir", None)
    args.setdefault("report_to", "none")
    args.setdefault("save_strategy", "no")
    args.setdefault("disable_tqdm", True)
    if not has_test_rows:
        args["eval_strategy"] = "no"
    if device_name == "cpu":
        args.setdefault("use_cpu", True)
    try:
        return TrainingArguments(output_dir=workdir, **args)
    except (TypeError, ValueError) as e:
        raise errors.InvalidParameter("training_args rejected by TrainingArguments: %s" % e,
                                      hint="Use keyword arguments of transformers.TrainingArguments, "
                                           "e.g. {\"num_train_epochs\": 3, \"learning_rate\": 2e-5}.") from None


def progress_callback(notice, log_step, check_for_interrupts):
    """A TrainerCallback: every log → a pgml.logs row and a NOTICE with step k of n, loss and
    an ETA; every step → a chance for statement_timeout / pg_cancel_backend to stop training."""
    from transformers import TrainerCallback

    class _Reporter(TrainerCallback):
        def __init__(self):
            self.started, self.final = time.monotonic(), {}

        def timing(self, state):
            elapsed = time.monotonic() - self.started
            left = elapsed / max(state.global_step, 1) * (state.max_steps - state.global_step)
            return "%.1f s elapsed, about %.1f s left" % (elapsed, left)

        def on_step_end(self, args, state, control, **kwargs):
            if check_for_interrupts is not None:
                check_for_interrupts()
            notice("step %d of %d, %s" % (state.global_step, state.max_steps, self.timing(state)))

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = {k: (float(v) if finite(v) else None) if isinstance(v, (int, float)) else v
                    for k, v in (logs or {}).items()}
            if "train_runtime" in logs:
                self.final = logs
            record = dict(logs, step=state.global_step, max_steps=state.max_steps, timestamp=time.time())
            log_step(record)
            shown = ", ".join("%s %.4g" % (k, v) for k, v in logs.items() if finite(v))
            notice("step %d of %d: %s; %s" % (state.global_step, state.max_steps, shown, self.timing(state)),
                   force=True)
    return _Reporter()


# ---- evaluation --------------------------------------------------------------------------

def evaluate(task, trainer, model, tokenizer, rows, test_set, max_length):
    """Metrics on the test rows: eval_* from the Trainer, f1/accuracy/... for classifiers,
    perplexity for generation, BLEU and ROUGE for seq2seq."""
    import numpy as np
    if test_set is None:
        return {}
    if task in CLASSIFICATION:
        output = trainer.predict(test_set, metric_key_prefix="eval")
        result = {k: float(v) for k, v in output.metrics.items() if finite(v)}
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        logits = np.asarray(logits, dtype=np.float64)
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        index = {c: i for i, c in enumerate(rows.classes)}
        y_true = np.array([index[c] for c in rows.test["class_column"]])
        scores = metrics.compute("classification", y_true, proba.argmax(axis=1), proba,
                                 classes=np.arange(len(rows.classes)))
        result.update(scores)
        result.update({"eval_" + k: v for k, v in scores.items() if k in ("f1", "accuracy")})
        return result
    result = {k: float(v) for k, v in trainer.evaluate().items() if finite(v)}
    if "eval_loss" in result:
        result["perplexity"] = math.exp(min(result["eval_loss"], 700.0))
    if task in SEQ2SEQ:
        result.update(text_metrics(model, tokenizer, rows.test["text_column"], rows.test["target_column"], max_length))
    return result


def text_metrics(model, tokenizer, inputs, references, max_length, batch_size=16):
    """BLEU (sacrebleu) and ROUGE-1/2 (rouge-score) of generated text against the references,
    under PostgresML's metric names."""
    import torch
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU
    model.eval()
    predictions = []
    longest = max(len(ids) for ids in tokenizer(references)["input_ids"])
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            encoded = tokenizer(inputs[start:start + batch_size], truncation=True, max_length=max_length,
                                padding=True, return_tensors="pt").to(model.device)
            generated = model.generate(**encoded, max_new_tokens=min(longest + 8, max_length))
            predictions += tokenizer.batch_decode(generated, skip_special_tokens=True)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"])
    scores = [scorer.score(ref, pred) for ref, pred in zip(references, predictions)]

    def mean(kind, field):
        return float(sum(getattr(s[kind], field) for s in scores) / len(scores))
    # effective_order: short references (fewer than 4 words) would otherwise always score 0.
    return {"bleu": float(BLEU(effective_order=True).corpus_score(predictions, [references]).score),
            "rouge_ngram_f1": mean("rouge1", "fmeasure"), "rouge_ngram_precision": mean("rouge1", "precision"),
            "rouge_ngram_recall": mean("rouge1", "recall"), "rouge_bigram_f1": mean("rouge2", "fmeasure"),
            "rouge_bigram_precision": mean("rouge2", "precision"), "rouge_bigram_recall": mean("rouge2", "recall")}
