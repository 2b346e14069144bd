"""pgml.chunk: LangChain's text splitters by PostgresML's names (api.md §6)."""
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


def splitter_for(name, kwargs):
    """A LangChain splitter instance for PostgresML's splitter `name`."""
    if name not in SPLITTERS:
        raise errors.InvalidParameter(
            'Unknown splitter "%s"' % name,
            hint="Use one of: %s." % ", ".join(sorted(SPLITTERS)))
    check_sizes(kwargs)
    import langchain_text_splitters
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


def chunk(name, text, kwargs):
    """[(chunk_index, chunk)] numbered from 1."""
    try:
        pieces = splitter_for(name, kwargs).split_text(text)
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
