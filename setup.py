"""Kept for tools that still call setup.py; all metadata and pins live in pyproject.toml."""

from setuptools import setup

setup()
