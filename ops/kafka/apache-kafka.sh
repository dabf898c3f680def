#!/usr/bin/env bash
# Apache Kafka (KRaft) for local tests and development, from Maven Central jars.
#
#   ops/kafka/apache-kafka.sh fetch  [--version 4.1.1] [-v]
#   ops/kafka/apache-kafka.sh start  --workdir DIR [--nodes 1|3] [--base-port P|0] [--timeout 120]
#   ops/kafka/apache-kafka.sh status --workdir DIR
#   ops/kafka/apache-kafka.sh stop   --workdir DIR [--timeout 30]
#   ops/kafka/apache-kafka.sh properties [--nodes 1|3] [--node N] [--base-port P]
#
# A thin wrapper: the configuration lives in stream/edgestream_dev/apache/ (pom.xml and
# log4j2.yaml in its data/), the single source of truth shared with the tests. Needs edgestream installed (editable) in
# the Python it runs: $EDGESTREAM_PYTHON, else the active virtualenv's, else python3.
# Jars are cached in ${EDGESTREAM_CACHE:-$HOME/.cache/edgestream}/kafka/<version>/lib.
# See ops/kafka/README.md.
set -euo pipefail

py="${EDGESTREAM_PYTHON:-}"
if [[ -z "$py" ]]; then
    if [[ -n "${VIRTUAL_ENV:-}" ]]; then py="$VIRTUAL_ENV/bin/python"; else py="python3"; fi
fi
if ! "$py" -c 'import edgestream_dev.apache' 2>/dev/null; then
    echo "error: '$py' cannot import edgestream_dev.apache;" \
         "run 'pip install -e .' in the clone or set EDGESTREAM_PYTHON" >&2
    exit 2
fi
exec "$py" -m edgestream_dev.apache "$@"
