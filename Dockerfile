# The one image that ops/kubernetes/edgestream.yaml runs, for the service and the agent
# Deployments: the `edgestream` console script with the service's runtime dependencies only
# (numpy, onnxruntime, kafka-python, ...), the built-in model plugins, and the lab
# distribution without its extras for `edgestream agent` (edgestream_agent and the queue
# server's client). No training code, no torch; no bluesky, ophyd, Tansu or matplotlib (the
# lab's `beamline` extra: demo, simulate, broker and compare-agents say so if run here).
#
#   docker build -t registry.example.org/edgestream:0.1.0 .
#   docker run --rm -v /etc/bluesky:/etc/bluesky:ro registry.example.org/edgestream:0.1.0 \
#       serve --kafka-yml /etc/bluesky/kafka.yml --metrics-port 9464
FROM python:3.11-slim AS build
WORKDIR /src
# Only what the wheel is built from (see .dockerignore): a checkout's .venv or caches never enter.
COPY pyproject.toml README.md LICENSE ./
COPY stream stream
COPY plugins plugins
# the service (.) and the lab distribution beside it, for the agent (./stream: edgestream_agent)
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . ./stream

FROM python:3.11-slim
# The Kubernetes example runs as this non-root uid (securityContext runAsUser: 10001).
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin edgestream
COPY --from=build /wheels /wheels
# The lab wheel brings bluesky-queueserver-api: the agent Deployment reaches the queue
# server through it.
RUN pip install --no-cache-dir /wheels/edgestream-0*.whl /wheels/edgestream_lab-*.whl \
    && rm -rf /wheels
USER 10001
WORKDIR /home/edgestream
EXPOSE 9464 8765
ENTRYPOINT ["edgestream"]
CMD ["serve"]
