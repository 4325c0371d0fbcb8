"""Serving: the digit sketchpad web app, its predictor, and the preprocessing shared with training."""
