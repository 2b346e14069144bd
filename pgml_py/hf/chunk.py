"""pgml.chunk: LangChain's text splitters by PostgresML's names.

Separators run on the `regex` engine instead of `re`: the same syntax and splits, but every
search and split gives up after a time limit. A backtracking pattern such as (a+)+$ runs for
ever in `re`, inside one C call that holds the GIL, where neither statement_timeout nor
pg_terminate_backend can stop it; between calls a pending cancel is let through."""
import json
import re
import time

from .. import errors

SPLITTERS = {
    "character": "CharacterTextSplitter",
    "latex": "LatexTextSplitter",
    "markdown": "MarkdownTextSplitter",
    "nltk": "NLTKTextSplitter",
    "python": "PythonCodeTextSplitter",
    "recursive_character": "RecursiveCharacterTextSplitter",
    "spacy": "SpacyTextSplitter",
}


def check_sizes(kwargs):
    size, overlap = kwargs.get("chunk_size", 4000), kwargs.get("chunk_overlap", 200)
    for name, value in (("chunk_size", size), ("chunk_overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise errors.bad_argument(name, "a non-negative integer", repr(value))
    if size < 1:
        raise errors.bad_argument("chunk_size", "at least 1", size)
    if overlap > size:
        raise errors.InvalidParameter(
            "chunk_overlap (%d) must not be larger than chunk_size (%d)" % (overlap, size),
            hint="Lower chunk_overlap or raise chunk_size.")


# The CPU time (regex's timeout counts the process's CPU seconds, not the clock's) one search or
# split may take on a short text, plus this per character (4 s more for 16 million): a cancel
# is seen within about a second, and a linear pattern on a long text still has the time it needs.
REGEX_SECONDS = 0.5
REGEX_SECONDS_PER_CHAR = 2.5e-7
INTERRUPT_POLL_SECONDS = 0.05


class SeparatorEngine:
    """What LangChain's character splitters (and the markdown, latex and python ones built on
    them) call as their `re` module: escape, search and split."""
    escape = staticmethod(re.escape)

    def __init__(self):
        self.check_for_interrupts = None
        self.checked_at = 0.0

    def search(self, pattern, text):
        return self.run("search", pattern, text)

    def split(self, pattern, text):
        return self.run("split", pattern, text)

    def poll(self, force=False):
        if self.check_for_interrupts and (force or time.monotonic() - self.checked_at > INTERRUPT_POLL_SECONDS):
            self.check_for_interrupts()
            self.checked_at = time.monotonic()

    def run(self, operation, pattern, text):
        import regex
        self.poll()
        compiled = compile_separator(pattern)
        try:
            return getattr(compiled, operation)(text, timeout=REGEX_SECONDS + REGEX_SECONDS_PER_CHAR * len(text))
        except TimeoutError:
            self.poll(force=True)  # a cancel that came meanwhile is reported as the cancel
            raise errors.StatementTooComplex(
                'separator "%s" takes too long on this text' % pattern[:200],
                detail="One %s on %d characters used more than %.1f s of CPU time." % (
                    operation, len(text), REGEX_SECONDS + REGEX_SECONDS_PER_CHAR * len(text)),
                hint="Use a separator without nested repetition such as (a+)+, or split the text first.") from None
        except regex.error as e:
            raise bad_separator(pattern, e) from None


ENGINE = SeparatorEngine()


def compile_separator(pattern):
    import regex
    try:
        return regex.compile(pattern)
    except (regex.error, TypeError) as e:
        raise bad_separator(pattern, e) from None


def bad_separator(pattern, cause):
    return errors.InvalidRegularExpression(
        'separator "%s" is not a valid regular expression: %s' % (str(pattern)[:200], cause),
        hint="Fix the pattern (Python regular expression syntax), or pass \"is_separator_regex\": false "
             "to split on the text as written.")


def check_separators(kwargs):
    """"separators" is a list of strings and "separator" a string (22023 naming the option, not a
    failure inside LangChain); with is_separator_regex each must compile: 2201B now, not mid-split."""
    separators = kwargs.get("separators")
    if separators is not None and not isinstance(separators, list):
        raise errors.bad_argument('"separators"', "a JSON array of strings", json.dumps(separators))
    separators = list(separators or []) + ([kwargs["separator"]] if "separator" in kwargs else [])
    for pattern in separators:
        if not isinstance(pattern, str):
            raise errors.bad_argument("each separator", "a string", json.dumps(pattern))
    if kwargs.get("is_separator_regex"):
        for pattern in separators:
            compile_separator(pattern)


def splitter_for(name, kwargs):
    """A LangChain splitter instance for PostgresML's splitter `name`."""
    if name not in SPLITTERS:
        raise errors.InvalidParameter(
            'Unknown splitter "%s"' % name,
            hint="Use one of: %s." % ", ".join(sorted(SPLITTERS)))
    check_sizes(kwargs)
    check_separators(kwargs)
    import langchain_text_splitters
    import langchain_text_splitters.character
    langchain_text_splitters.character.re = ENGINE
    cls = getattr(langchain_text_splitters, SPLITTERS[name])
    kwargs = dict(kwargs)
    if name == "spacy" and "pipeline" not in kwargs and not _spacy_model_installed():
        # en_core_web_sm is a separate download; the rule-based sentencizer needs nothing.
        kwargs["pipeline"] = "sentencizer"
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise errors.InvalidParameter("kwargs for the %s splitter are not accepted: %s" % (name, e),
                                      hint="Pass the options of LangChain's %s." % SPLITTERS[name])
    except ImportError as e:
        raise errors.MissingDependency("the %s splitter needs a package that is not installed" % name,
                                       detail=str(e), hint="Install it into the pgml venv.")


def _spacy_model_installed():
    import importlib.util
    return importlib.util.find_spec("en_core_web_sm") is not None


def chunk(name, text, kwargs, check_for_interrupts=None):
    """[(chunk_index, chunk)] numbered from 1. check_for_interrupts: called between separator
    searches, so a cancel stops a long split."""
    try:
        splitter = splitter_for(name, kwargs)
        ENGINE.check_for_interrupts, ENGINE.checked_at = check_for_interrupts, time.monotonic()
        pieces = splitter.split_text(text)
    except LookupError as e:
        if name != "nltk":
            raise
        # NLTK without its punkt data. Its message starts with a line of asterisks; the first
        # line with words says what is missing.
        lines = [line.strip() for line in str(e).splitlines() if any(ch.isalpha() for ch in line)]
        raise errors.MissingDependency(
            "the nltk splitter needs NLTK's punkt_tab data, which is not installed",
            detail=lines[0] if lines else None,
            hint="Install it where the server reads it, with the pgml venv's python: "
                 "python -m nltk.downloader -d /usr/share/nltk_data punkt_tab")
    return list(enumerate(pieces, start=1))
