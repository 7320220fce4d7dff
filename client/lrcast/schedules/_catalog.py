"""Imports every module that registers built-in schedule types (see `_registry.register`)."""

from . import (  # noqa: F401
    _compose,
    _cosine,
    _cyclic,
    _decay,
    _huggingface,
    _plateau_types,
    _range_test,
)
