"""The middle layer: who may use which Kimi account, and how one turn lives (no flask, no HTTP)."""
