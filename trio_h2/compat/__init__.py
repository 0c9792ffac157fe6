"""Modules that mimic other HTTP/2 libraries' Python APIs on top of trio_h2."""
