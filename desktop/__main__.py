"""``python -m desktop`` is the same as the ``billbridge`` command."""

from desktop.cli import entry_point

if __name__ == "__main__":
    entry_point()
