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
