"""Read (and small write) queries the views' item models call; Qt-free.

Views never run SQL: an item model calls a function here with a Session it owns, on a
background thread, and shows the plain dataclasses it gets back.
"""
