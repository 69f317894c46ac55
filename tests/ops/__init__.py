"""Operations: logging, Sentry scrubbing, gunicorn settings and the deployment manifests."""
