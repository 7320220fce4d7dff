#!/usr/bin/env python3
"""Copy the browser assets the service ships from npm into the package.

The dashboard's chart library (uPlot) and the offline API docs (Swagger UI, ReDoc) are
installed from the npm registry at the versions `package-lock.json` pins, then copied into
``service/lrcast_service/dashboard/vendor/`` so that ``pip install lrcast[service]`` needs
no npm and no CDN. Which file goes where is the ``vendor`` table of `package.json`;
``tests/dashboard/test_vendor.py`` checks the copies still equal the npm files.

    python3 scripts/vendor_assets.py                 # npm ci, then copy
    python3 scripts/vendor_assets.py --no-install    # copy from an existing node_modules
    python3 scripts/vendor_assets.py --install-only  # npm ci only (CI, to check the copies)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "service" / "lrcast_service" / "dashboard" / "vendor"
# peers (React & co.) are bundled inside the standalone builds already; install scripts
# are only telemetry (@scarf/scarf), so neither is needed to copy the built files
NPM_CI = ["npm", "ci", "--omit=peer", "--ignore-scripts", "--no-audit", "--no-fund"]


def vendor_table() -> dict[str, str]:
    """`package.json`'s ``vendor`` table: file under node_modules -> name under vendor/."""
    return json.loads((ROOT / "package.json").read_text())["vendor"]


def copy_assets() -> list[Path]:
    """Replace vendor/ with the files the table names, from node_modules; the copies."""
    if VENDOR_DIR.exists():
        shutil.rmtree(VENDOR_DIR)
    VENDOR_DIR.mkdir(parents=True)
    copied = []
    for source, name in vendor_table().items():
        copied.append(Path(shutil.copyfile(ROOT / "node_modules" / source, VENDOR_DIR / name)))
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-install", action="store_true",
                      help="skip `npm ci` and copy from the node_modules already there")
    mode.add_argument("--install-only", action="store_true",
                      help="run `npm ci` and copy nothing (to compare the copies with npm's)")
    args = parser.parse_args()
    if not args.no_install:
        subprocess.run(NPM_CI, cwd=ROOT, check=True)
    if args.install_only:
        return
    for path in copy_assets():
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size:>9} bytes")


if __name__ == "__main__":
    main()
