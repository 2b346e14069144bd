"""A local server speaking OpenAI's POST /embeddings for the official SDK's tests, which name
OpenAI's text-embedding-ada-002: it computes real embeddings with pgml.embed and the model in
PGML_SDK_OPENAI_STANDIN (all-MiniLM-L6-v2), so nothing leaves the machine."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

STANDIN = os.environ.get("PGML_SDK_OPENAI_STANDIN", "sentence-transformers/all-MiniLM-L6-v2")


def serve(database_url):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            with psycopg.connect(database_url) as conn:
                rows = conn.execute("SELECT pgml.embed(transformer => %s, inputs => %s)", (STANDIN, texts)).fetchall()
            data = [{"object": "embedding", "index": i, "embedding": list(r[0])} for i, r in enumerate(rows)]
            out = json.dumps({"object": "list", "data": data, "model": body.get("model")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d/v1" % server.server_address[1]
