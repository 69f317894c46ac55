"""HTTP API: flask-smorest blueprints per resource. Thin: parse, call a service, shape."""
