# SPDX-License-Identifier: Apache-2.0
# A small, non-root image of the sidecar. Build: docker build -t mcp-auth-sidecar .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY sidecar ./sidecar
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sidecar
USER 10001
ENV MCP_SIDECAR_CONFIG=/etc/mcp-sidecar/config.yaml \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["mcp-sidecar"]
CMD ["serve"]
