# syntax=docker/dockerfile:1
# The Tracewise image for KubeRay: Ray's own image at the pinned Ray version, plus this project.
# The build runs the same steps as `make install`: generate the gRPC stubs from protos/, then
# install the client SDK and the service from their pyproject files.
ARG RAY_VERSION=2.60.0
ARG PYTHON_TAG=py311

FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-cpu AS build
WORKDIR /home/ray/src
COPY --chown=ray:users pyproject.toml ./
COPY --chown=ray:users protos/ protos/
COPY --chown=ray:users scripts/gen_protos.py scripts/
COPY --chown=ray:users clients/python/ clients/python/
COPY --chown=ray:users server/ server/
COPY --chown=ray:users deployments/ deployments/
RUN pip install --no-cache-dir "grpcio-tools==1.85.1" \
    && python scripts/gen_protos.py \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /home/ray/wheels ./clients/python .

FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-cpu
COPY --from=build --chown=ray:users /home/ray/wheels /home/ray/wheels
RUN pip install --no-cache-dir /home/ray/wheels/*.whl \
    && rm -rf /home/ray/wheels
COPY --chown=ray:users deployments/serve_config.yaml /home/ray/serve_config.yaml
# Ray's image runs as the unprivileged user "ray" (uid 1000); say so rather than inherit it.
USER 1000
WORKDIR /home/ray
# 9000 gRPC (Serve's proxy), 8265 Ray dashboard, 8080 Prometheus metrics
EXPOSE 9000 8265 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["tracewise", "health", "--server", "127.0.0.1:9000"]
# Standalone (docker run): a local Ray plus the app. Under KubeRay the operator runs `ray start`
# and deploys serveConfigV2 instead.
CMD ["tracewise", "serve", "--config", "/home/ray/serve_config.yaml", "--port", "9000"]
