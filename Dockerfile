# syntax=docker/dockerfile:1
# Codex-32 image: one image, every process of the Procfile.
#   web (default)  gunicorn --config gunicorn.conf.py wsgi:app
#   worker         codex32 worker
#   release        codex32 db upgrade
#   vectors        codex32-milvus serve
# Build: docker build -t codex32 .   (CODEX32_PLUGINS="openai milvus" installs only those; the
# optional minilm embedder, PyTorch included, only when named: CODEX32_PLUGINS="... minilm")

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv holding the core and the first-party plugins ---------------------
FROM ${PYTHON_IMAGE} AS build
ARG CODEX32_PLUGINS=""
# Installed unless CODEX32_PLUGINS says otherwise: every first-party plugin but the optional ones.
ARG CODEX32_OPTIONAL_PLUGINS="minilm"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY . .
RUN pip install --upgrade pip wheel \
 && pip install . \
 && for plugin in ${CODEX32_PLUGINS:-$(ls plugins)}; do \
        if [ -z "${CODEX32_PLUGINS}" ] && echo " ${CODEX32_OPTIONAL_PLUGINS} " | grep -q " $plugin "; then \
            continue; \
        fi; \
        if [ -f "plugins/$plugin/pyproject.toml" ] || [ -f "plugins/$plugin/setup.cfg" ]; then \
            pip install "./plugins/$plugin" || exit 1; \
        fi; \
    done
# Bytecode stays: the runtime user cannot write it, and every process would compile at start.

# --- runtime: the virtualenv, the entry files and the migrations, run as a non-root user ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CODEX32_ENV=production \
    CODEX32_DATA_DIR=/var/lib/codex32 \
    CODEX32_MIGRATIONS_DIR=/app/migrations \
    PORT=8000
# libseccomp: the sandbox's syscall filter (without it the worker refuses to run bots).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libseccomp2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 codex32 \
 && useradd --system --uid 10001 --gid codex32 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin codex32 \
 && mkdir -p /var/lib/codex32 \
 && chown codex32:codex32 /var/lib/codex32
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY wsgi.py gunicorn.conf.py Procfile ./
COPY migrations/ migrations/
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
