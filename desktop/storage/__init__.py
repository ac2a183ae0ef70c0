"""What is kept: the workspace database, its models and migrations (Qt-free)."""

from desktop.storage.database import Database, default_url, display_url, open_database

__all__ = ["Database", "default_url", "display_url", "open_database"]
