"""Builtins, TransformerPipeline and OpenSourceAI: pgml.embed / pgml.transform /
pgml.transform_stream from the client, PostgresML SDK's API."""
import hashlib
import json
import time
import uuid

from psycopg.sql import SQL, Literal

from . import _db, _sql
from ._runtime import AsyncStream, SyncStream, bridged, run_sync
from .errors import invalid

OPEN_SOURCE_MODELS = (
    "meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-70B-Instruct",
    "meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-70B-Instruct",
    "meta-llama/Meta-Llama-3.1-405B-Instruct", "microsoft/Phi-3-mini-128k-instruct",
    "mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mistral-7B-Instruct-v0.2")


def _normalize_args(args):
    """max_new_tokens is spelled max_tokens for pgml.transform; counts become integers."""
    args = dict(args or {})
    if "max_new_tokens" in args:
        args["max_tokens"] = args.pop("max_new_tokens")
    for name in ("max_tokens", "n"):
        if name in args:
            args[name] = int(args[name])
    return args


def _is_conversation(task):
    return isinstance(task, dict) and task.get("task") == "conversational"


async def run(db, task, inputs, args):
    """pgml.transform(task, inputs, args) -> its JSON result."""
    if _is_conversation(task):
        query, inputs = _sql.TRANSFORM_CONVERSATION, [_db.jsonb(m) for m in inputs]
    else:
        if not all(isinstance(i, str) for i in inputs):
            raise invalid("the inputs must be strings when not using the conversational task")
        query = _sql.TRANSFORM
    task_value = _db.jsonb(task) if isinstance(task, dict) else task
    return await db.fetchval(query, (task_value, inputs, _db.jsonb(_normalize_args(args))))


async def stream(db, task, inputs, args, batch_size=1):
    """pgml.transform_stream read through a cursor in one transaction: yields each row
    (a JSON array of strings), or lists of first strings when batch_size > 1."""
    if _is_conversation(task):
        declare, value = _sql.DECLARE_TRANSFORM_STREAM_CONVERSATION, [_db.jsonb(m) for m in inputs]
    else:
        if not isinstance(inputs, str):
            raise invalid("the input to transform_stream must be a string when the task is not conversational")
        declare, value = _sql.DECLARE_TRANSFORM_STREAM, inputs
    fetch = _sql.FETCH_STREAM.format(n=Literal(int(batch_size)))
    async with db.transaction() as conn:
        await conn.execute(declare, (_db.jsonb(task), value, _db.jsonb(_normalize_args(args))))
        while True:
            rows = await (await conn.execute(fetch)).fetchall()
            if not rows:
                break
            if batch_size > 1:
                yield [row[0][0] if isinstance(row[0], list) else row[0] for row in rows]
            else:
                yield rows[0][0]


class Builtins:
    """pgml functions called directly: embed, embed_batch, transform, query."""

    def __init__(self, database_url=None):
        self.database_url = database_url

    @bridged
    async def embed(self, model, text):
        return await (await _db.get(self.database_url)).fetchval(_sql.EMBED, (model, text, _db.jsonb({})))

    @bridged
    async def embed_batch(self, model, texts):
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise invalid("embed_batch takes an array of strings")
        rows = await (await _db.get(self.database_url)).fetch(_sql.EMBED_BATCH, (model, texts, _db.jsonb({})))
        return [row[0] for row in rows]

    @bridged
    async def transform(self, task, inputs, args=None):
        return await run(await _db.get(self.database_url), task, list(inputs), args)

    def query(self, query):
        return QueryRunner(query, self.database_url)


class QueryRunner:
    """Raw SQL with bound values: fetch_all() returns the rows as a JSON list."""

    def __init__(self, query, database_url=None):
        self.query, self.database_url, self.values = query, database_url, []

    def _bind(self, value):
        self.values.append(value)
        return self

    def bind_string(self, value):
        return self._bind(str(value))

    def bind_int(self, value):
        return self._bind(int(value))

    def bind_float(self, value):
        return self._bind(float(value))

    def bind_bool(self, value):
        return self._bind(bool(value))

    def bind_json(self, value):
        return self._bind(_db.jsonb(value))

    def _sql(self):
        # $1, $2 ... as PostgresML's SDK takes them, as psycopg's %s (literal % doubled).
        import re
        text = self.query.replace("%", "%%")
        order = [int(n) for n in re.findall(r"\$(\d+)", text)]
        return re.sub(r"\$(\d+)", "%s", text), [self.values[n - 1] for n in order]

    @bridged
    async def fetch_all(self):
        text, values = self._sql()
        result = await (await _db.get(self.database_url)).fetchval(
            _sql.QUERY_RUNNER.format(query=SQL(text)), values)
        return result if result is not None else []

    @bridged
    async def execute(self):
        text, values = self._sql()
        db = await _db.get(self.database_url)
        async with db.transaction() as conn:
            await conn.execute(SQL(text), values)


class TransformerPipeline:
    """A task and model for pgml.transform / pgml.transform_stream."""

    def __init__(self, task, model=None, args=None, database_url=None):
        self.task = dict(args or {})
        self.task["task"] = task
        if model is not None:
            self.task["model"] = model
        if "gpu_layers" in self.task:
            self.task["gpu_layers"] = int(self.task["gpu_layers"])
        self.database_url = database_url

    @bridged
    async def transform(self, inputs, args=None):
        return await run(await _db.get(self.database_url), self.task, list(inputs), args)

    @bridged
    async def transform_stream(self, input, args=None, batch_size=1):
        db = await _db.get(self.database_url)
        return AsyncStream(stream(db, self.task, input, args, batch_size or 1))


class OpenSourceAI:
    """OpenAI-style chat completions computed by pgml.transform in the database."""

    def __init__(self, database_url=None):
        self.database_url = database_url

    def _pipeline(self, model):
        if isinstance(model, dict):
            params = dict(model)
            name = params.pop("model", None)
            if not isinstance(name, str):
                raise invalid("`model` is a required key in the model object")
            return TransformerPipeline("conversational", name, params, self.database_url), name, params
        if model not in OPEN_SOURCE_MODELS:
            raise invalid("unknown model %r" % (model,), "Please select one of the provided models: "
                          + ", ".join(OPEN_SOURCE_MODELS) + ", or pass {\"model\": ...} for any other.")
        params = {"task": "conversational", "model": model}
        return TransformerPipeline("conversational", model, None, self.database_url), model, params

    def _prepare(self, model, max_tokens, temperature, n, chat_template):
        pipeline, name, params = self._pipeline(model)
        max_tokens = 1000 if max_tokens is None else max_tokens
        temperature = 0.8 if temperature is None else temperature
        n = 1 if n is None else n
        digest = hashlib.md5(("%s%s%s%s" % (json.dumps(params), max_tokens, temperature, n)).encode()).digest()
        args = {"max_tokens": max_tokens, "temperature": temperature}
        if chat_template is not None:
            args["chat_template"] = chat_template
        return pipeline, name, str(uuid.UUID(bytes=digest)), args

    @bridged
    async def chat_completions_create_async(self, model, messages, max_tokens=None, temperature=None, n=None,
                                            chat_template=None):
        pipeline, name, fingerprint, args = self._prepare(model, max_tokens, temperature, n, chat_template)
        choices = await pipeline.transform(messages, args)
        return {"id": str(uuid.uuid4()), "object": "chat.completion", "created": int(time.time()),
                "model": name, "system_fingerprint": fingerprint,
                "choices": [{"index": i, "message": {"role": "assistant", "content": c}}
                            for i, c in enumerate(choices or [])],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    @bridged
    async def chat_completions_create_stream_async(self, model, messages, max_tokens=None, temperature=None,
                                                   n=None, chat_template=None):
        pipeline, name, fingerprint, args = self._prepare(model, max_tokens, temperature, n, chat_template)
        db = await _db.get(self.database_url)
        return AsyncStream(_chunks(stream(db, pipeline.task, messages, args, 1), name, fingerprint))

    def chat_completions_create(self, model, messages, max_tokens=None, temperature=None, n=None,
                                chat_template=None):
        return run_sync(self.chat_completions_create_async(model, messages, max_tokens, temperature, n,
                                                           chat_template))

    def chat_completions_create_stream(self, model, messages, max_tokens=None, temperature=None, n=None,
                                       chat_template=None):
        stream_ = run_sync(self.chat_completions_create_stream_async(model, messages, max_tokens, temperature,
                                                                     n, chat_template))
        return SyncStream(stream_._agen)


async def _chunks(rows, name, fingerprint):
    chunk_id = str(uuid.uuid4())
    async for choices in rows:
        choices = choices if isinstance(choices, list) else [choices]
        yield {"id": chunk_id, "system_fingerprint": fingerprint, "object": "chat.completion.chunk",
               "created": int(time.time()), "model": name,
               "choices": [{"index": i, "delta": {"role": "assistant", "content": c}} for i, c in enumerate(choices)]}
