"""The vendored browser libraries are exactly the npm packages `package-lock.json` pins:
package.json pins each version, the lock file resolves the same one, and the files under
``dashboard/vendor/`` equal the npm package's (when `npm ci` has filled node_modules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import DASHBOARD_DIR, ROOT

PACKAGE = json.loads((ROOT / "package.json").read_text())
LOCK = json.loads((ROOT / "package-lock.json").read_text())
NODE_MODULES = ROOT / "node_modules"


def _package_of(source: str) -> str:
    return source.split("/", 1)[0]


def test_versions_are_pinned_and_locked() -> None:
    for name, version in PACKAGE["dependencies"].items():
        assert version[0].isdigit(), f"{name} {version}: pin an exact version"
        assert LOCK["packages"][f"node_modules/{name}"]["version"] == version, name
        assert LOCK["packages"][""]["dependencies"][name] == version, name
    assert {_package_of(source) for source in PACKAGE["vendor"]} == set(PACKAGE["dependencies"])


def test_every_vendored_file_is_in_the_package_and_nothing_else() -> None:
    vendored = {p.name for p in (DASHBOARD_DIR / "vendor").iterdir()}
    assert vendored == set(PACKAGE["vendor"].values())
    assert (DASHBOARD_DIR / "vendor" / "uPlot.iife.min.js").stat().st_size > 10_000


@pytest.mark.parametrize("source", sorted(PACKAGE["vendor"]))
def test_vendored_file_equals_the_npm_package(source: str) -> None:
    name = _package_of(source)
    installed = NODE_MODULES / name / "package.json"
    if not installed.exists():
        pytest.skip("node_modules is missing: run `python3 scripts/vendor_assets.py` (npm ci)")
    assert json.loads(installed.read_text())["version"] == PACKAGE["dependencies"][name]
    copy = DASHBOARD_DIR / "vendor" / PACKAGE["vendor"][source]
    assert copy.read_bytes() == Path(NODE_MODULES / source).read_bytes(), (
        f"{copy.name} differs from npm's {source}: run `python3 scripts/vendor_assets.py`")
