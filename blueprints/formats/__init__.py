"""Pure translators between each API's wire format and the neutral kimi.events model."""
