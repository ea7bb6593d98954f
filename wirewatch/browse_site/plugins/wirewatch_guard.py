"""Loaded by Datasette from ``--plugins-dir``: the hooks live in ``wirewatch.browse_guard``."""

from datasette import hookimpl

from wirewatch import browse_guard


@hookimpl
def prepare_connection(conn):
    browse_guard.prepare_connection(conn)


@hookimpl
def asgi_wrapper(datasette):
    return browse_guard.asgi_wrapper(datasette)
