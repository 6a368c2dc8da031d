"""Kimi's Connect RPC web protocol (kimi-protocol.md part A): envelopes, payloads, the stream, the client."""
