"""The distribution's version, also sent in the User-Agent."""

__version__ = "0.1.0"
