"""HTTP surfaces: one thin blueprint per API, with pure translators under formats/."""
