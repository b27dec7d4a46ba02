"""numpy side of test_io's interop test.

usage: numpy_interop.py DIR
Reads the files flashmoe wrote in DIR (ours_<dtype>.npy), checks dtype, shape and values, and
writes numpy's own files (theirs_<dtype>.npy) for flashmoe to read back. Exit status 0 on
success, 1 on a mismatch (message on stderr), 77 when numpy is missing (the test skips).
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("numpy is not installed", file=sys.stderr)
    sys.exit(77)

# Same values as the C++ side: i -> 0.375*i - 2.5 for floats, (37*i) % 251 for integers.
SHAPE = (3, 4)
FLOATS = {"f64": "<f8", "f32": "<f4", "bf16": "<f4", "f16": "<f4"}
INTEGERS = {"i32": "<i4", "i64": "<i8", "u8": "|u1"}


def expected(name, dtype):
    i = np.arange(np.prod(SHAPE)).reshape(SHAPE)
    values = 0.375 * i - 2.5 if name in FLOATS else (37 * i) % 251
    return values.astype(dtype)


def main(folder):
    for name, dtype in list(FLOATS.items()) + list(INTEGERS.items()):
        array = np.load(os.path.join(folder, f"ours_{name}.npy"))
        if array.dtype != np.dtype(dtype) or array.shape != SHAPE:
            print(f"ours_{name}.npy: got {array.dtype} {array.shape}", file=sys.stderr)
            return 1
        if not np.array_equal(array, expected(name, dtype)):
            print(f"ours_{name}.npy: values differ", file=sys.stderr)
            return 1
    for name, dtype in [("f64", "<f8"), ("f32", "<f4"), ("f16", "<f2"), ("i32", "<i4"),
                        ("i64", "<i8"), ("u8", "|u1")]:
        np.save(os.path.join(folder, f"theirs_{name}.npy"), expected(name if name != "f16" else "f32", dtype))
    np.save(os.path.join(folder, "theirs_bool.npy"), np.array([True, False, True]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
