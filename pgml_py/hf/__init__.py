"""Hugging Face: embeddings, chunking (and later transform, rank, tune)."""
