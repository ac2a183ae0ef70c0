"""How data gets here: read-only connectors and the sync engine (Qt-free)."""
