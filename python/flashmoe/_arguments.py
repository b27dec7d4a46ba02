"""The one type check of flashmoe's Python arguments, done before a value becomes text.

The configuration crosses to the C++ Config as text ("2", "true"), and text hides the caller's
type: top_k="2" or normalize_weights=0 would read as valid. So every argument is checked here
against the type the C++ field has (flashmoe._C.config_field_kinds(), the C++ field table) or,
for arguments that are not Config fields, the type given by the caller of `checked`:

  int    an integer: int or another numbers.Integral (numpy's), never bool, float or a tensor
  float  a real number: float or int (numpy's too), never bool
  bool   bool or numpy.bool_ only: 0/1 and "no" are refused rather than guessed
  str    str (activation and dtype names; the C++ parser then checks the name)

A wrong type is a TypeError naming the argument, the expected type and what was given; values
of the right type are returned as plain Python values (a numpy int as int, ...).
"""
import numbers
import reprlib

import numpy

from . import _C

# The C++ field types as Python kinds: activations and dtypes are passed by name.
_FIELD_KINDS = {key: {"activation": "str", "dtype": "str"}.get(kind, kind)
                for key, kind in _C.config_field_kinds()}

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


def _is_bool(value):
    # numpy.bool_ is no bool subclass (and no numbers.Integral), so it is named here.
    return isinstance(value, (bool, numpy.bool_))


# kind -> (what is expected, in words; acceptance test; conversion to the plain Python value)
_KINDS = {
    "int": ("an int", lambda v: isinstance(v, numbers.Integral) and not _is_bool(v), int),
    "float": ("a float or an int", lambda v: isinstance(v, numbers.Real) and not _is_bool(v),
              float),
    "bool": ("a bool (True or False)", _is_bool, bool),
    "str": ("a str", lambda v: isinstance(v, str), str),
}


def checked(name, value, kind, *, none_allowed=False):
    """`value` as a plain Python value of `kind` ("int", "float", "bool", "str"); TypeError
    naming `name` otherwise. none_allowed: None passes through (an optional argument)."""
    if value is None and none_allowed:
        return None
    expected, accepts, convert = _KINDS[kind]
    if not accepts(value):
        if none_allowed:
            expected += " or None"
        raise TypeError(f"argument {name} must be {expected}, got {type(value).__name__} "
                        f"{_short.repr(value)}")
    return convert(value)


def checked_config_value(key, value):
    """A Config field's value checked against the C++ field's type. An unknown key passes
    through unchanged: flashmoe._C.make_config refuses it naming the nearest valid key."""
    if key not in _FIELD_KINDS:
        return value
    return checked(key, value, _FIELD_KINDS[key])
