"""Kimi's Connect RPC web protocol (docs/kimi-protocol.md part A): envelopes, payloads, the stream, the client."""
