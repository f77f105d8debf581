"""Command-line tools: python -m cvrl_pl.tools.<name>."""
