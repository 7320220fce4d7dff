"""Imports every module that registers built-in schedule types (see `_registry.register`)."""
