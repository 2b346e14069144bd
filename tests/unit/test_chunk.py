import pytest

from pgml_py import errors
from pgml_py.hf import chunk

TEXT = "PostgresML runs models inside Postgres. " * 20


def test_recursive_character_numbers_from_one_and_respects_size():
    rows = chunk.chunk("recursive_character", TEXT, {"chunk_size": 100, "chunk_overlap": 10})
    assert [i for i, _ in rows] == list(range(1, len(rows) + 1))
    assert len(rows) > 5 and all(len(c) <= 100 for _, c in rows)


@pytest.mark.parametrize("name", ["character", "latex", "markdown", "python", "recursive_character", "spacy"])
def test_every_offline_splitter_splits(name):
    rows = chunk.chunk(name, "First sentence here. Second one.\n\n" * 30, {"chunk_size": 120, "chunk_overlap": 0})
    assert len(rows) > 1 and all(text.strip() for _, text in rows)


def test_unknown_splitter():
    with pytest.raises(errors.InvalidParameter, match="Unknown splitter"):
        chunk.chunk("sentences", TEXT, {})


def test_overlap_larger_than_size():
    with pytest.raises(errors.InvalidParameter, match="chunk_overlap"):
        chunk.chunk("character", TEXT, {"chunk_size": 10, "chunk_overlap": 20})


def test_unknown_option_is_a_clear_error():
    with pytest.raises(errors.InvalidParameter, match="not accepted"):
        chunk.chunk("character", TEXT, {"chunk_sizes": 10})


def test_a_bad_separator_regex_is_2201B():
    with pytest.raises(errors.InvalidRegularExpression) as info:
        chunk.chunk("recursive_character", TEXT, {"separators": ["("], "is_separator_regex": True})
    assert info.value.sqlstate == "2201B" and info.value.hint


def test_a_backtracking_separator_stops_with_54001():
    import time
    started = time.process_time()
    with pytest.raises(errors.StatementTooComplex) as info:
        chunk.chunk("recursive_character", "a" * 40 + "b", {"separators": ["(a|aa)+$"], "is_separator_regex": True})
    assert info.value.sqlstate == "54001" and time.process_time() - started < 2 * chunk.REGEX_SECONDS


def test_the_engine_checks_for_interrupts_between_searches(monkeypatch):
    monkeypatch.setattr(chunk, "INTERRUPT_POLL_SECONDS", 0)
    calls = []
    chunk.chunk("recursive_character", "word " * 50, {"chunk_size": 10, "chunk_overlap": 0},
                check_for_interrupts=lambda: calls.append(1))
    assert len(calls) > 1


@pytest.mark.parametrize("kwargs", [
    {"separators": ["\\n\\n+", "[.!?] ", "\\s+"], "is_separator_regex": True, "chunk_size": 30, "chunk_overlap": 0},
    {"separators": ["(?<=\\.) ", " "], "is_separator_regex": True, "chunk_size": 25, "chunk_overlap": 5},
    {"separators": ["\\s"], "is_separator_regex": True, "chunk_size": 12, "chunk_overlap": 0},
    {"chunk_size": 40, "chunk_overlap": 10},
])
def test_the_engine_splits_as_re_does(kwargs, monkeypatch):
    import re

    import langchain_text_splitters.character as character
    text = "First sentence. Second one! A third?\u00a0Non-breaking.\n\n\nNext  paragraph here.\u2028End." * 4
    ours = [c for _, c in chunk.chunk("recursive_character", text, kwargs)]
    monkeypatch.setattr(character, "re", re)
    assert ours == character.RecursiveCharacterTextSplitter(**kwargs).split_text(text)
