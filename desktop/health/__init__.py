"""What the data means: MRR and its movements, health scores, risk alerts and segments (Qt-free)."""
