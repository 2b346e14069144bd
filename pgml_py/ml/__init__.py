"""Classic machine learning: algorithms, metrics, model storage (train/deploy/predict build on these)."""
