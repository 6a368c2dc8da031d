"""The Kimi upstream: framing, parsing, prompts and the HTTP client. Nothing here imports Flask."""

__version__ = "0.1.0"
