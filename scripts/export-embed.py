#!/usr/bin/env python3
"""make install: exports the packaged all-MiniLM-L6-v2 for pgml.embed's ONNX Runtime and OpenVINO
backends (fp32, and int8 for "quantize") into <model store>/.pgml-exports, once per model version,
and measures which runtime pgml.embed_backend = auto uses on this CPU (choice.json beside them,
a few seconds; docs/embedding.md).

    <venv>/bin/python scripts/export-embed.py STORE
"""
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pgml_py.hf import backends  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def main():
    store = sys.argv[1]
    path = os.path.join(store, MODEL)
    started = time.monotonic()
    backends.export_for_install(MODEL, path, store, notice=lambda m: print("export-embed: " + m))
    print("export-embed: %s ready in %.1f s" % (MODEL, time.monotonic() - started))


if __name__ == "__main__":
    main()
