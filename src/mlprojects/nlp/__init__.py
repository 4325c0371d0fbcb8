"""Pretrained transformers (the Hugging Face notebook): loading models by hub id or folder, and
looking inside them. Needs ``pip install 'mlprojects[nlp]'``."""
