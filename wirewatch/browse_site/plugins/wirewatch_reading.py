"""Loaded by Datasette from ``--plugins-dir``: the hooks live in ``wirewatch.reading``."""

from wirewatch.reading import extra_template_vars, register_routes, render_cell

__all__ = ["extra_template_vars", "register_routes", "render_cell"]
