"""Sphinx configuration: MyST pages, and a configuration reference generated from the traits."""

from __future__ import annotations

project = "awsspawner"
author = "The awsspawner developers"
copyright = "2026, The awsspawner developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "autodoc_traits",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "sphinx_rtd_theme"
autodoc_typehints = "none"
autodoc_member_order = "bysource"
# Nitpicky mode is on (-n): these targets live in libraries without intersphinx here.
nitpick_ignore_regex = [
    (r"py:.*", r"(traitlets|jupyterhub|aiobotocore|botocore|typing|collections)\..*"),
    (r"py:class", r"(Any|Mapping|Sequence|T|AioSession|ECSGateway|Endpoint|TaskDefinitionInfo)"),
    (r"py:class", r"(SpawnSettings|SpawnIdentity|LaunchMode|DescribeResult|ClientSettings).*"),
    (r"py:class", r"awsspawner\..*"),
]
