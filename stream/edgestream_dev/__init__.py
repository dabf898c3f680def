"""Development and test support: the local brokers and the process helpers.

- :mod:`edgestream_dev.procs`: the one set of process helpers (free ports, a subprocess with
  its log, stop by PID, wait for ports and brokers, :func:`~edgestream_dev.procs.wait_until`).
- :mod:`edgestream_dev.tansu`: the embedded Tansu broker (the demo's and fast tests' default).
- :mod:`edgestream_dev.apache`: Apache Kafka (KRaft) from Maven Central jars, with its
  ``pom.xml`` and ``log4j2.yaml`` shipped as package data.
- :mod:`edgestream_dev.brokers`: which brokers can run here, and starting one (tests, bench).

Used by the tests, the benchmark (``bench/``) and ``edgestream demo``; never by the service.
"""
