"""The package version, in a module that imports nothing, so that reading it loads nothing else.

``pyproject.toml`` reads it from here (``dynamic = ["version"]``); setuptools parses this file
without importing the package.
"""

__version__ = "0.2.0"
