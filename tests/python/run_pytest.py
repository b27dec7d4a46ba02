"""CTest entry point: pytest over tests/python, or exit code 77 (CTest's SKIP_RETURN_CODE) with
the reason when this interpreter lacks torch or pytest. A missing flashmoe extension is a
failure, not a skip: CTest sets PYTHONPATH to the build tree that just built it."""
import importlib.util
import os
import sys

SKIPPED = 77


def main():
    missing = [name for name in ("torch", "pytest") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"SKIPPED: {', '.join(missing)} not installed for {sys.executable}; "
              "the Python tests need torch and pytest (docs/python.md)")
        return SKIPPED
    import pytest

    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    # No .pytest_cache or __pycache__ in the source tree.
    sys.dont_write_bytecode = True
    return int(pytest.main(["-q", "-p", "no:cacheprovider", directory]))


if __name__ == "__main__":
    sys.exit(main())
