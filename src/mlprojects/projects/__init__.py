"""The built-in projects, registered by name with their sources and published figures.

This module only registers metadata (no torch import); each project's code is imported when used.
"""

from mlprojects.registry import ProjectInfo, register

register(ProjectInfo(
    name="mnist-mlp",
    source="Keras notebook: MNIST MLP (784 -> 4x256 ReLU -> 10 softmax, SGD lr 0.087, batch 32, 15 epochs)",
    dataset="mnist-10k (embedded); mnist, fashion-mnist by --set data=",
    published="test accuracy 0.983 (full MNIST)",
    module="mlprojects.projects.mnist_mlp",
    summary="a fully connected network on MNIST digits, with every experiment of the notebook as a --set",
))
