"""``python -m cvrl_pl.config --markdown``: the config reference table of the README, from the schema."""

import sys

from cvrl_pl.config import markdown_reference

if sys.argv[1:] != ["--markdown"]:
    sys.exit("usage: python -m cvrl_pl.config --markdown")
sys.stdout.write(markdown_reference())
