"""The streaming benchmark behind `make bench` (see bench/README.md); not part of the served app."""
