"""mlprojects: the classic machine-learning projects as real, fast, tested software on PyTorch.

    import mlprojects as mlp
    run = mlp.run("mnist-mlp", epochs=3, seed=1)
    model = mlp.load(run.dir)
    model.predict(["digit.png"])

Importing this package is cheap (no torch, no pandas): the CLI's ``--help`` and ``list`` rely on it, and
the API's functions (``mlprojects.api``) load what they need when first used.
"""

__version__ = "0.1.0"

from mlprojects.errors import UserError  # noqa: E402

_API = ("run", "resume", "load", "projects", "RunResult", "Model")
__all__ = ["UserError", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from mlprojects import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlprojects' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
