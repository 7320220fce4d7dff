"""`import lrcast` stays light: no torch, no service dependencies (nor pydantic, which the
plain install does not have)."""

import subprocess
import sys


def test_import_lrcast_imports_neither_torch_nor_the_service():
    code = ("import sys, lrcast; heavy = [m for m in ('torch', 'fastapi', 'uvicorn', "
            "'pydantic', 'lrcast_service', 'lrcast.torch') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_public_api_is_what_all_exports():
    import lrcast

    for name in lrcast.__all__:
        assert hasattr(lrcast, name), name
    assert {"Client", "AsyncClient", "Run", "AsyncRun", "errors", "schedules"} <= set(
        lrcast.__all__)


def test_lrcast_torch_is_reachable_as_an_attribute_after_plain_import():
    # the example: `import lrcast` then `lrcast.torch.RemoteScheduler(...)`
    code = ("import sys, lrcast; before = 'torch' in sys.modules; "
            "cls = lrcast.torch.RemoteScheduler; "
            "print(before, 'torch' in sys.modules, cls.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split() == ["False", "True", "RemoteScheduler"]
