# SPDX-License-Identifier: Apache-2.0
# A small, non-root image of the sidecar that runs on a read-only root filesystem.
# Build: docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t mcp-auth-sidecar .
# Run:   docker run --read-only --tmpfs /tmp -v $PWD/sidecar.yaml:/etc/mcp-sidecar/config.yaml:ro \
#          -p 8080:8080 mcp-auth-sidecar

# Build stage: install the package into a virtual environment (pip writes the bytecode at install
# time), so the final stage needs no build tools and never writes a .pyc.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/mcp-sidecar
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY sidecar ./sidecar
RUN /opt/mcp-sidecar/bin/pip install ".[tracing]"

FROM python:3.11-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mcp-auth-sidecar" \
      org.opencontainers.image.description="An authenticating reverse-proxy sidecar for MCP servers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/mcp-sidecar /opt/mcp-sidecar
# A numeric user and group, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
# /etc/mcp-sidecar holds the mount points of config.yaml and of the key Secrets (secrets/...).
RUN groupadd --system --gid 10001 sidecar \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sidecar \
    && mkdir -p /etc/mcp-sidecar/secrets
USER 10001:10001
# With a read-only root filesystem the process writes only to TMPDIR: mount a tmpfs or an emptyDir
# there. Bytecode was compiled at build time and is never written at run time.
ENV PATH=/opt/mcp-sidecar/bin:$PATH \
    MCP_SIDECAR_CONFIG=/etc/mcp-sidecar/config.yaml \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 8080: server.port (MCP routes, /health, /readyz); 9464: the usual server.metrics_port.
EXPOSE 8080 9464
ENTRYPOINT ["mcp-sidecar"]
CMD ["serve"]
