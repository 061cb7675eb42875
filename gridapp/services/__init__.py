"""Use cases as verb_noun functions: explicit arguments, they flush, the caller commits."""
