"""pgml.rank: re-rank documents for a query with a sentence-transformers CrossEncoder."""
from .. import errors, threads
from . import embed, hub


def rank(model, query, documents, kwargs, settings, db):
    """[(corpus_id, score, text or None)] by score, highest first; corpus_id is 0-based."""
    constructor, call_kwargs, use_cache = embed.split_kwargs(model, kwargs)
    call_kwargs.pop("show_progress_bar", None)
    encoder = embed.cached_model("rank", "CrossEncoder", model, constructor, use_cache, settings, db)
    return_documents = hub.as_bool(call_kwargs.get("return_documents", False), "return_documents")
    if not documents:
        return []
    try:
        with threads.torch_call(settings.omp_num_threads):
            ranked = encoder.rank(query, list(documents), show_progress_bar=False, **call_kwargs)
    except (TypeError, ValueError) as e:
        raise errors.InvalidParameter("kwargs for rank() are not accepted: %s" % e,
                                      hint="rank() takes top_k, return_documents and batch_size.")
    return [(r["corpus_id"], float(r["score"]), r.get("text") if return_documents else None)
            for r in ranked]
