"""Where a command finds the appliance home: ``--home``, else ``$ROSVD_HOME``, else ``~/.rosvd``.

Kept apart from :mod:`.certify` (which imports the whole pipeline) so that building the
command line stays cheap.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

HOME_ENV = "ROSVD_HOME"
HOME_HELP = f"appliance directory (default ${HOME_ENV} or ~/.rosvd)"


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV, Path.home() / ".rosvd"))


def home_of(args: argparse.Namespace) -> Path:
    """The home a command's ``--home`` names, or the default."""
    return Path(args.home) if args.home else default_home()


def add_home_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--home", help=HOME_HELP)
    return parser
