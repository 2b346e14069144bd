"""Offline stand-in for Hugging Face `datasets`, used only by the official stress_test.py
(which loads Wikipedia): load_dataset yields Wikipedia-shaped rows (id, url, title, text) made
of real English prose found on this machine, Python's own documentation strings.
PGML_SDK_STRESS_ROWS rows (default 1000: the test uploads only full batches of 1000)."""
import os
import pkgutil
import importlib
import warnings


def _paragraphs():
    seen = set()
    for info in sorted(pkgutil.iter_modules(), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in ("antigravity", "this", "idlelib", "tkinter", "turtle"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(info.name)
        except Exception:
            continue
        for name, obj in sorted(vars(module).items()):
            doc = getattr(obj, "__doc__", None) if not name.startswith("_") else None
            if isinstance(doc, str) and len(doc) > 80 and doc not in seen:
                seen.add(doc)
                yield "%s.%s" % (info.name, name), doc.strip()


def load_dataset(path, name=None, split=None, trust_remote_code=False, **kwargs):
    rows = int(os.environ.get("PGML_SDK_STRESS_ROWS", "1000"))
    out = []
    for i, (title, text) in enumerate(_paragraphs()):
        if i >= rows:
            break
        out.append({"id": str(i), "url": "https://docs.python.org/3/library/#" + title, "title": title, "text": text})
    return out
