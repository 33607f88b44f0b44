"""Sentence embeddings of papers: the MiniLM encoder, a TF-IDF fallback, a hashing encoder, and a factory."""
