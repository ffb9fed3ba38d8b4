"""One way to draw an HTML page: Jinja2, autoescaping, over a package's ``templates/`` folder.

The console (``interfaces/console``), the model card (``registry``) and the monitoring report
(``monitoring``) each keep their templates beside their code and render them through this one
environment factory, so every page escapes text from outside the same way: as data, never markup.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


@cache
def environment(package: str) -> jinja2.Environment:
    """The environment of ``package``'s ``templates/`` folder (built once per package)."""
    import jinja2  # on first page: the CLI never needs it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files(package) / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(package: str, template: str, **context: Any) -> str:
    return environment(package).get_template(template).render(**context)
