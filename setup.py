"""Packages live in two roots: the core under platform/ and the tenancy package at the top."""

from setuptools import find_packages, setup

setup(
    packages=find_packages("platform") + find_packages(".", include=["tenants", "tenants.*"]),
    package_dir={"": "platform", "tenants": "tenants"},
)
