"""The README stays true to the code: its configuration table has a row for every setting in
configs/defaults.yaml, with that setting's default, and every test file it names exists."""
import re

import pytest
import yaml

from tests.support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DEFAULTS = yaml.safe_load((ROOT / "configs" / "defaults.yaml").read_text(encoding="utf-8"))


def section(heading):
    """The README's text under `## heading`, up to the next second-level heading."""
    return re.search(rf"^## {heading}\n(.*?)(?=^## )", README, re.S | re.M).group(1)


def table_rows(text):
    """{first cell: second cell} of each row of the Markdown tables in `text`, backticks kept."""
    return dict(re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*?) \|", text, re.M))


CONFIGURATION = table_rows(section("Configuration"))


@pytest.mark.parametrize("setting", sorted(DEFAULTS))
def test_every_setting_has_a_row_with_its_default(setting):
    default = DEFAULTS[setting]
    shown = str(default).lower() if isinstance(default, bool) else str(default)
    assert setting.upper() in CONFIGURATION, f"README's configuration table has no row for {setting.upper()}"
    cell = CONFIGURATION[setting.upper()]
    # An empty default is described in words (*(empty)*, *(generated)*, ...), any other shown as is.
    assert cell.startswith("*") if shown == "" else cell == f"`{shown}`"


def test_every_test_file_the_readme_names_exists():
    named = set(re.findall(r"`(tests/[\w/]+\.py)`", README))
    assert named and {path for path in named if not (ROOT / path).is_file()} == set()
