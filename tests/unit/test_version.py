"""One version number: pgml_py, the installed package's metadata, pgml.control and the CHANGELOG."""
import re
from importlib import metadata
from pathlib import Path

import pgml_py

ROOT = Path(__file__).resolve().parents[2]


def test_control_file_names_the_package_version():
    control = (ROOT / "pgml.control").read_text()
    assert re.search(r"default_version = '([^']+)'", control).group(1) == pgml_py.__version__
    assert pgml_py.EXTENSION_VERSION == pgml_py.__version__


def test_changelog_newest_heading_is_the_version():
    """The newest heading is the version, or the next one still unreleased (its notes gather
    before the version is raised) directly above it."""
    headings = re.findall(r"^## (\S+)(.*)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    if headings[0][0] != pgml_py.__version__:
        assert "unreleased" in headings[0][1] and headings[1][0] == pgml_py.__version__, headings[:2]


def test_installed_package_metadata_agrees():
    # make install puts pgml_py into the venv with pip; the runner sees that venv through a .pth.
    assert metadata.version("pgml-py") == pgml_py.__version__


def test_full_script_of_the_version_exists():
    assert (ROOT / ("pgml--%s.sql" % pgml_py.__version__)).is_file()
