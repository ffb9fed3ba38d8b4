"""The ``shipyard`` command line (Typer + Rich): thin commands over the services."""
