"""WSGI entry point: ``gunicorn --config gunicorn.conf.py wsgi:app``."""

from codex32.app import create_app

app = create_app()
