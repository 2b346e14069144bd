"""The pre-1.0 query builder: collection.query().vector_recall(q, pipeline).limit(n).fetch_all()
-> [(score, chunk, document)], a vector_search on the "text" key."""
from ._runtime import bridged
from .errors import invalid


class QueryBuilder:
    def __init__(self, collection):
        self._collection = collection
        self._pipeline = None
        self._query = {"query": {"fields": {"text": {}}}}

    def limit(self, limit):
        self._query["limit"] = int(limit)
        return self

    def filter(self, filter):
        filter = dict(filter)
        if "metadata" in filter:
            self._query["query"]["filter"] = filter.pop("metadata")
        if "full_text" in filter:
            self._query["query"]["fields"]["text"]["full_text_filter"] = (filter.pop("full_text") or {}).get("text")
        return self

    def vector_recall(self, query, pipeline, query_parameters=None):
        self._pipeline = pipeline
        self._query["query"]["fields"]["text"]["query"] = query
        if query_parameters is not None:
            self._query["query"]["fields"]["text"]["parameters"] = query_parameters
        return self

    def to_full_string(self):
        import json
        return json.dumps(self._query)

    @bridged
    async def fetch_all(self):
        if self._pipeline is None:
            raise invalid("cannot fetch all without first calling vector_recall")
        results = await self._collection.vector_search(self._query, self._pipeline)
        return [(r["score"], r["chunk"], r["document"]) for r in results]
