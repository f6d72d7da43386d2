"""Renderers: they read a Report and format it; they compute nothing."""

from roofscope.render.table import render_terminal

__all__ = ["render_terminal"]
