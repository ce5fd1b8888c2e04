# syntax=docker/dockerfile:1
# Custody: build wheels from the lock file, then a slim runtime without compilers or pip.
#   docker build -t custody:0.1.0 .
# Not built on the machine where Custody is developed (it has no Docker engine);
# tests/test_deploy_files.py checks this file and docker-compose.yml statically.

FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/runtime.txt requirements/runtime.txt
# Every third-party wheel is pinned and hash-checked.
RUN pip wheel --no-cache-dir --require-hashes -r requirements/runtime.txt -w /wheels
COPY . .
RUN pip wheel --no-cache-dir --no-deps . -w /wheels

FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="Custody" \
      org.opencontainers.image.description="Tamper-evident audit log and incident response for AI systems" \
      org.opencontainers.image.version="0.1.0"
RUN useradd --system --uid 10001 --home-dir /var/lib/custody --create-home custody
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels \
    && pip uninstall -y pip setuptools wheel
USER custody
WORKDIR /var/lib/custody
ENV CUSTODY_HOME=/var/lib/custody \
    CUSTODY_HOST=0.0.0.0 \
    CUSTODY_PORT=8000 \
    CUSTODY_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
ENTRYPOINT ["custody"]
CMD ["serve"]
