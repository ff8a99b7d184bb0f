"""docs/api.md's settings table is the code's."""
import re
from pathlib import Path

from rosvd.api.settings import Settings

DOC = Path(__file__).parents[2] / "docs" / "api.md"


def test_settings_table_matches_the_defaults():
    rows = dict(re.findall(r"^\| `(\w+)` \| ([0-9.]+) \|", DOC.read_text(), re.MULTILINE))
    assert rows == {key: str(value) for key, value in Settings().to_json().items()}
