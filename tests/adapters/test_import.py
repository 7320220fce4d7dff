"""The adapters are optional: `import lrcast` imports none of them nor their frameworks."""

import subprocess
import sys

HEAVY = ("torch", "transformers", "keras", "jax", "optax", "lrcast.transformers",
         "lrcast.keras", "lrcast.optax")


def test_import_lrcast_imports_no_adapter_nor_framework():
    code = f"import sys, lrcast; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"

