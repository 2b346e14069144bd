"""Runs PostgresML SDK 1.1.1's own tests (python/tests/test.py and stress_test.py from its
sdist on PyPI, used unchanged and not kept in this repository) with this package importable
as `pgml` in place of the official wheel.

Offline substitutes, as the project's other SDK tests: the models they name are found in the
server's model store (tests/setup_server.py), `source: openai` embeddings come from a local
server speaking OpenAI's /embeddings API that computes them with pgml.embed (offline/), and
stress_test.py's Wikipedia rows come from offline/datasets.py (Python's own documentation).

    PGML_DATABASE_URL=... python tests/official.py [pytest args]
"""
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / ".official"
SDIST = "pgml-1.1.1.tar.gz"
MEMBERS = ("test.py", "stress_test.py")


def official_tests():
    """The two files, from PGML_SDK_OFFICIAL_SDIST, the cache, or PyPI (once)."""
    target = CACHE / "pgml-1.1.1"
    if all((target / m).exists() for m in MEMBERS):
        return target
    sdist = os.environ.get("PGML_SDK_OFFICIAL_SDIST")
    data = Path(sdist).read_bytes() if sdist else _download()
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in MEMBERS:
            f = tar.extractfile("pgml-1.1.1/pgml/python/tests/" + member)
            (target / member).write_bytes(f.read())
    return target


def _download():
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page = urllib.request.urlopen(index + "/pgml/", timeout=60).read().decode()
    url = re.search(r'href="([^"]*%s[^"]*)"' % re.escape(SDIST), page)
    if not url:
        sys.exit("pgml 1.1.1's sdist is not on %s; set PGML_SDK_OFFICIAL_SDIST to a copy" % index)
    return urllib.request.urlopen(urllib.parse.urljoin(index + "/pgml/", url.group(1)), timeout=120).read()


def main(args):
    tests = official_tests()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / ("pgml-official-%d" % os.getpid())
    shutil.copytree(tests, work)
    sys.path.insert(0, str(HERE / "offline"))
    from openai_server import serve
    server, base_url = serve(os.environ["PGML_DATABASE_URL"])
    env = dict(os.environ, OPENAI_BASE_URL=base_url, OPENAI_API_KEY="local-pgml-embeddings")
    try:
        python = os.environ.get("PGML_SDK_OFFICIAL_PYTHON", sys.executable)  # "reference": the official wheel
        rc = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test.py", *args],
                            cwd=work, env=env).returncode
        print("--- stress_test.py ---", flush=True)
        env["PYTHONPATH"] = str(HERE / "offline")
        stress = subprocess.run([python, "stress_test.py"], cwd=work, env=env)
        print("stress_test.py exit status %d" % stress.returncode, flush=True)
        return rc or stress.returncode
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import urllib.parse  # noqa: F401 - used by _download
    sys.exit(main(sys.argv[1:]))
