"""Hugging Face: embeddings, chunking, transform, rank and tune."""
