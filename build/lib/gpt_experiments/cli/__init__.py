"""One module per command. ``scripts/*.py`` and the ``gpt-*`` console commands call their ``main``."""
