"""Packages live in two roots: the core under platform/ and the tenancy package at the top.

The template folders under codex32/plugins/defaults/templates hold files, not modules: they are
listed as (namespace) packages only so that setuptools ships them without a warning; their
files are package data (setup.cfg) read with importlib.resources.
"""

from setuptools import find_namespace_packages, find_packages, setup

TEMPLATES = "codex32.plugins.defaults.templates"

setup(
    packages=find_packages("platform")
    + find_namespace_packages("platform", include=[TEMPLATES, f"{TEMPLATES}.*"])
    + find_packages(".", include=["tenants", "tenants.*"]),
    package_dir={"": "platform", "tenants": "tenants"},
)
