"""Kimi's legacy REST + SSE API (docs/kimi-protocol.md part B), reached with a refresh token.

`LegacyClient.open_chat` yields the same neutral events as kimi.connect.client's Connect path.
"""
