"""ragft: RAG, fine-tuning, or both? Measure it on your own documents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ragft")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
