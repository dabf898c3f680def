"""The queue server for real: redis-server, bluesky-queueserver's ``start-re-manager`` (a
worker RunEngine with BMM's baseline stages) and bluesky-httpserver in front of it are
started here, and suggestions reach them through bluesky-queueserver-api over 0MQ and over
HTTP (API key), from our transport and from the bluesky-adaptive agent. Skipped where
redis-server is not installed (Debian: redis-server)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from edgestream_agent.state import Suggestion
from edgestream_agent.transports import QueueServer, TransportError, re_manager_api
from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

START_RE_MANAGER = Path(sys.executable).with_name("start-re-manager")
START_HTTP_SERVER = Path(sys.executable).with_name("start-bluesky-httpserver")
API_KEY = "edgestreamtestkey0123"  # bluesky-httpserver takes alphanumerics only

STARTUP = '''
import json, os
import bluesky.plans as bp
import bluesky.plan_stubs as bps
from bluesky import RunEngine
from bluesky.preprocessors import SupplementalData
from ophyd.sim import SynAxis, det

RE = RunEngine({})
xafs_x = SynAxis(name="xafs_x")
xafs_y = SynAxis(name="xafs_y")
RE.preprocessors.append(SupplementalData(baseline=[xafs_x, xafs_y]))

def _record(name, doc):
    if name == "start":
        with open(os.environ["EDGESTREAM_QS_DOCS"], "a") as f:
            f.write(json.dumps(doc, default=str) + "\\n")

RE.subscribe(_record)


def agent_move_and_measure(motor, position, *, sample_name=None, md=None):
    yield from bps.mv(motor, position)
    return (yield from bp.count([det], md={"sample_name": sample_name, **(md or {})}))
'''

PERMISSIONS = '''
user_groups:
  root:
    allowed_plans: [null]
    forbidden_plans: [":^_"]
    allowed_devices: [null]
    forbidden_devices: [":^_:?.*"]
    allowed_functions: [null]
    forbidden_functions: [":^_"]
  primary:
    allowed_plans: [":^agent_"]
    forbidden_plans: [null]
    allowed_devices: [":?.*:depth=5"]
    forbidden_devices: [null]
    allowed_functions: [null]
    forbidden_functions: [null]
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def re_manager(tmp_path_factory):
    """A running RE Manager with an open worker environment: (control address, docs file)."""
    redis = shutil.which("redis-server")
    if redis is None or not START_RE_MANAGER.exists():
        pytest.skip("redis-server (Debian package) or start-re-manager is not installed")
    d = tmp_path_factory.mktemp("qserver")
    (d / "startup.py").write_text(STARTUP)
    (d / "permissions.yaml").write_text(PERMISSIONS)
    docs = d / "starts.jsonl"
    redis_port, control, info = free_port(), free_port(), free_port()
    procs = [subprocess.Popen([redis, "--port", str(redis_port), "--save", "",
                               "--appendonly", "no", "--dir", str(d)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
    log = open(d / "re_manager.log", "w")  # noqa: SIM115 (closed at teardown)
    procs.append(subprocess.Popen(
        [str(START_RE_MANAGER), "--startup-script", str(d / "startup.py"),
         "--user-group-permissions", str(d / "permissions.yaml"),
         "--existing-plans-devices", str(d / "existing.yaml"),
         "--update-existing-plans-devices", "ENVIRONMENT_OPEN",
         "--redis-addr", f"localhost:{redis_port}",
         "--zmq-control-addr", f"tcp://127.0.0.1:{control}",
         "--zmq-info-addr", f"tcp://127.0.0.1:{info}", "--console-output", "OFF"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ,
                                                   "EDGESTREAM_QS_DOCS": str(docs)}))
    address = f"tcp://127.0.0.1:{control}"
    api = re_manager_api(address, timeout=2.0)
    try:
        state = wait_until(lambda: _probe(lambda: api.status(reload=True), Exception, procs),
                           60, "RE Manager", interval=0.5, strict=False)
        if state != "up":
            raise AssertionError("RE Manager did not start: " +
                                 (d / "re_manager.log").read_text()[-2000:])
        api.environment_open()
        api.wait_for_idle(timeout=90)
        assert api.status(reload=True)["worker_environment_exists"]
        yield address, docs, api, (control, info)
    finally:
        try:
            api.environment_close()
            api.wait_for_idle(timeout=30)
        except Exception:
            pass
        api.close()
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


@pytest.fixture(scope="module")
def http_server(re_manager, tmp_path_factory):
    """bluesky-httpserver in front of the RE Manager, single-user API key: its URI."""
    if not START_HTTP_SERVER.exists():
        pytest.skip("bluesky-httpserver is not installed")
    _, _, _, (control, info) = re_manager
    port = free_port()
    log = open(tmp_path_factory.mktemp("http") / "http.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(START_HTTP_SERVER), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "QSERVER_ZMQ_CONTROL_ADDRESS": f"tcp://127.0.0.1:{control}",
             "QSERVER_ZMQ_INFO_ADDRESS": f"tcp://127.0.0.1:{info}",
             "QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY": API_KEY})
    uri = f"http://127.0.0.1:{port}"
    try:
        state = wait_until(
            lambda: _probe(lambda: QueueServer(uri, api_key=API_KEY, timeout=2).status(),
                           TransportError, [proc]),
            60, "bluesky-httpserver", interval=0.5, strict=False)
        if state != "up":
            raise AssertionError("bluesky-httpserver did not start")
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _probe(call, errors, procs) -> str:
    """'up' once ``call()`` answers, 'exited' when one of ``procs`` ended, else '' (again)."""
    try:
        call()
        return "up"
    except errors:
        return "exited" if any(p.poll() is not None for p in procs) else ""


def wait_history(api, n: int, timeout: float = 60.0) -> list[dict]:
    def ran() -> list[dict] | None:
        items = api.history_get()["items"]
        if len(items) >= n and api.status(reload=True)["manager_state"] == "idle":
            return items
        return None

    items = wait_until(ran, timeout, "plan history", interval=0.2, strict=False)
    if items:
        return items
    raise AssertionError(f"{len(api.history_get()['items'])} of {n} plans ran")


def suggestion(x: float, plan: str = "agent_move_and_measure") -> Suggestion:
    return Suggestion(uid=f"uid-{x}", sample="s", position=(x,), plan_name=plan,
                      plan_args=["xafs_x", x],
                      plan_kwargs={"sample_name": "s", "md": {"agent_suggestion_uid": f"uid-{x}"}},
                      annotation_ids=("a1",), reason="test", score=1.0)


def starts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_suggestions_run_on_a_real_re_manager_over_0mq(re_manager) -> None:
    address, docs, api, _ = re_manager
    api.history_clear()
    qs = QueueServer(address, start_if_idle=True)
    assert qs.protocol == "zmq"
    before = len(starts(docs))
    qs.send([suggestion(3.5), suggestion(7.25)])
    items = wait_history(api, 2)
    assert [i["result"]["exit_status"] for i in items] == ["completed", "completed"]
    new = starts(docs)[before:]
    assert [s["agent_suggestion_uid"] for s in new] == ["uid-3.5", "uid-7.25"]
    assert qs.added[0]["item_uid"] and qs.added[0]["name"] == "agent_move_and_measure"
    with pytest.raises(TransportError, match="refused"):
        qs.send([suggestion(1.0, plan="count")])  # not in the allowed plans of the group
    qs.close()


def test_refusals_without_a_server() -> None:
    with pytest.raises(TransportError, match="no answer"):
        QueueServer(f"tcp://127.0.0.1:{free_port()}", timeout=0.5).status()
    with pytest.raises(ValueError, match="API key is for the HTTP server"):
        QueueServer("tcp://127.0.0.1:60615", api_key="secret")
    with pytest.raises(ValueError, match="cannot tell the queue server protocol"):
        QueueServer("qserver.example:60610")


def test_the_adaptive_agent_queues_and_starts_the_real_queue(re_manager) -> None:
    from edgestream_agent.adaptive import (
        AgentDocuments,
        AnnotatedRuns,
        AnnotationConsumer,
        EdgestreamAgent,
    )
    from edgestream_agent.positions import PositionSpec
    from edgestream_agent.strategies import Bounds, GridStrategy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from bluesky_adaptive.utils.offline import OfflineProducer

    address, docs, api, _ = re_manager
    api.history_clear()
    runs = AnnotatedRuns(PositionSpec(("xafs_x",), "baseline"))
    qserver = re_manager_api(address)
    agent = EdgestreamAgent(
        strategy=GridStrategy(Bounds(10, 20), 3), plan_name="agent_move_and_measure",
        plan_motor="xafs_x", sample="s", agent_run_suffix="zmq",
        kafka_consumer=AnnotationConsumer(runs), tiled_data_node=runs,
        tiled_agent_node=AgentDocuments(), kafka_producer=OfflineProducer(), qserver=qserver)
    before = len(starts(docs))
    # bluesky-adaptive's own queue path: suggest, BPlan, item_add, start the idle queue
    agent.start(suggest_at_start=True)
    try:
        items = wait_history(api, 1)
    finally:
        agent.stop()
    assert items[0]["name"] == "agent_move_and_measure" and items[0]["args"] == ["xafs_x", 10.0]
    (start,) = starts(docs)[before:]
    assert start["agent_name"] == "edgestream-grid-zmq" and start["agent_suggestion_uid"]
    assert agent.agent_catalog.events("suggest")[0]["suggestion"] == 10.0
    qserver.close()


def test_suggestions_through_bluesky_httpserver(re_manager, http_server) -> None:
    _, docs, api, _ = re_manager
    api.history_clear()
    qs = QueueServer(http_server, api_key=API_KEY, start_if_idle=True)
    assert qs.protocol == "http" and API_KEY not in repr(qs)
    before = len(starts(docs))
    qs.send([suggestion(12.0)])
    (item,) = wait_history(api, 1)
    assert item["result"]["exit_status"] == "completed"
    assert [s["agent_suggestion_uid"] for s in starts(docs)[before:]] == ["uid-12.0"]
    with pytest.raises(TransportError, match="HTTP 401"):
        QueueServer(http_server, api_key="wrong").send([suggestion(1.0)])
    with pytest.raises(TransportError, match="refused"):
        qs.send([suggestion(1.0, plan="count")])
    qs.close()
