"""Datasets: the catalog of specs, verified downloads into a cache, and format parsers."""
