# Build stage: resolve and install the pinned dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY services ./services
RUN /opt/venv/bin/pip install -c constraints.txt .
# The gettext catalogs, compiled; the service finds them under <venv>/share/liaison/translations.
COPY translations /opt/venv/share/liaison/translations
RUN /opt/venv/bin/pybabel compile --domain liaison --directory /opt/venv/share/liaison/translations

# Final stage: the interpreter, the virtual environment and nothing else (no compilers, no pip cache).
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app liaison \
    && mkdir -p /srv/site && chown liaison /srv/site
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LIAISON_LOG_FORMAT=json
USER liaison
EXPOSE 8000
CMD ["liaison", "serve", "--host", "0.0.0.0", "--workers", "2"]
