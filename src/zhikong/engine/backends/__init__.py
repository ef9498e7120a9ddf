"""One module per engine; each implements only the hooks of ``QueryEngine``."""
