"""Offline stand-in for Hugging Face `datasets`, used only by the official stress_test.py
(which loads Wikipedia): load_dataset yields Wikipedia-shaped rows (id, url, title, text) made
of real English prose found on this machine, Python's own documentation strings.
PGML_SDK_STRESS_ROWS rows (default 1000: the test uploads only full batches of 1000)."""
import os
import sys
import pkgutil
import importlib
import warnings


SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "pydoc_data", "lib2to3", "ensurepip", "venv", "idle"}


def _paragraphs():
    seen = set()
    names = getattr(sys, "stdlib_module_names", None) or [m.name for m in pkgutil.iter_modules()]
    for module_name in sorted(names):
        if module_name.startswith("_") or module_name in SKIP:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(module_name)
        except Exception:
            continue
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_"):
                continue
            members = [(name, obj)]
            if isinstance(obj, type) and obj.__module__ == module.__name__:
                members += [(name + "." + n, o) for n, o in sorted(vars(obj).items()) if not n.startswith("_")]
            for title, member in members:
                doc = getattr(member, "__doc__", None)
                if isinstance(doc, str) and len(doc) > 80 and doc not in seen:
                    seen.add(doc)
                    yield "%s.%s" % (module_name, title), doc.strip()


def load_dataset(path, name=None, split=None, trust_remote_code=False, **kwargs):
    rows = int(os.environ.get("PGML_SDK_STRESS_ROWS", "1000"))
    out = []
    for i, (title, text) in enumerate(_paragraphs()):
        if i >= rows:
            break
        out.append({"id": str(i), "url": "https://docs.python.org/3/library/#" + title, "title": title, "text": text})
    return out
