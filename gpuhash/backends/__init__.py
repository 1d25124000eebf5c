"""Backends that ship with the core distribution: ``reference`` and ``cpu``."""
