"""podcast-assets: learn the shape of a good technical podcast from (paper, podcast) pairs."""

__version__ = "0.1.0"
