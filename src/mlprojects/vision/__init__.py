"""Pretrained image networks: ImageNet classification, the architectures' history, style transfer (the book's
chapter 8)."""
