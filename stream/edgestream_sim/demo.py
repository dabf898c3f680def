"""``edgestream demo``: embedded broker, simulated beamline, the service, live annotations,
the live page, and an agent steering a second, simulated stage over a gradient sample."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from edgestream.apps.serve import build_service
from edgestream.config.settings import Settings
from edgestream.documents.wire import encode
from edgestream.doors.kafka.admin import FAST_GROUP_SETTINGS, create_topics
from edgestream.doors.kafka.clients import make_consumer, make_producer
from edgestream.paths import checkout_root
from edgestream.publish.annotation import decode
from edgestream.publish.table import AnnotationTable
from edgestream_dev.tansu import EmbeddedTansu

log = logging.getLogger(__name__)

BEAMLINE = "sim"
DOCUMENTS = f"{BEAMLINE}.bluesky.runengine.documents"
ADJUDICATORS = f"{BEAMLINE}.bluesky.adjudicators"
GRADIENT_SAMPLE = "Cu gradient A"
# The last full `edgestream compare-agents` run, shown when the live one is not done in time;
# it is in the checkout's docs/ (an installed lab has none: the demo then says how to run it).
COMPARISON_DOC = Path("docs") / "agent-comparison.json"
MAP_PNG = Path("out") / "eels-valence-map.png"
# The simulated SDD's files are named under this root in the documents, as a beamline's
# detector would; the service finds them through its data_roots setting.
PUBLISHED_DATA_ROOT = "/nsls2/data/sim"
DEMO_OPT_IN = ("cu_k_valence", "cu_k_motif", "cu_k_screening", "cu_l_valence",
               "mn_l_valence")  # shown anyway, where installed


def _settings(bootstrap: str, metrics_port: int | None, plugins: list[str] | None = None
              ) -> Settings:
    s = Settings(beamline=BEAMLINE, metrics_port=metrics_port or None, plugins=plugins)
    s.kafka.bootstrap_servers = bootstrap
    s.kafka.group_id = "edgestream-demo"
    s.kafka.session_timeout_ms = FAST_GROUP_SETTINGS["session_timeout_ms"]
    s.kafka.heartbeat_interval_ms = FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
    # The demo ends its runs itself; a short timeout shows partial annotations if one hangs.
    s.run_timeout_s = 120.0
    return s


def _follow(settings: Settings, topic: str, stop: threading.Event, sink: list[Any],
            show: AnnotationTable | None) -> None:
    consumer = make_consumer(settings.kafka, group_id=f"demo-{topic}",
                             auto_offset_reset="earliest", metadata_max_age_ms=1000)
    consumer.subscribe([topic])
    seen: set[str] = set()
    try:
        while not stop.is_set():
            for messages in consumer.poll(200).values():
                for msg in messages:
                    for body in decode(msg.value):  # JSON, or a compact spectrum-image row
                        key = body.get("annotation_id") or f"{msg.partition}/{msg.offset}"
                        if key in seen:
                            continue
                        seen.add(key)
                        sink.append(body)
                        if show is not None and "annotation_id" in body:
                            show(body)
                        elif show is not None:
                            show.show_dead_letter(body)
    finally:
        consumer.close()


def _send_garbage(settings: Settings) -> None:
    """A few malformed documents, to show they are dead-lettered while the rest flows."""
    producer = make_producer(settings.kafka)
    producer.send(DOCUMENTS, b"\xc1 this is not msgpack")
    producer.send(DOCUMENTS, encode("event", {"descriptor": "never-declared", "seq_num": 1,
                                              "data": {}, "timestamps": {}, "time": 0.0,
                                              "uid": "orphan-event"}))
    producer.send(DOCUMENTS, encode("resolution", {"uid": "x"}))
    producer.flush()
    producer.close()


@dataclass
class _Steering:
    """The agent-steered gradient sample of the demo."""

    sim: Any
    agent: Any
    thread: threading.Thread


class _PrintSuggestions:
    """A transport that prints each suggestion as one line."""

    def send(self, suggestions: list[Any]) -> None:
        for s in suggestions:
            print(f"  agent -> {s.plan_name}(x={s.plan_args[0]:.3f} mm) on {s.sample}: "
                  f"{s.reason} [{len(s.annotation_ids)} annotations]", flush=True)

    def close(self) -> None:
        pass


def _start_agent(settings: Settings, live: Any, stop: threading.Event, seed: int) -> _Steering:
    """A gradient sample with random boundaries, its RunEngine fed by a local queue, and the
    boundary-finding agent reading the service's annotations from Kafka."""
    from edgestream_agent.base import StageAgent
    from edgestream_agent.gradient import GradientSample
    from edgestream_agent.runner import AgentRunner
    from edgestream_agent.sim import PLAN_NAME, SteeredGradient
    from edgestream_agent.strategies import BoundaryStrategy, Bounds
    from edgestream_agent.transports import AdjudicatorTopic, QueueServer

    sample = GradientSample.random(np.random.default_rng(seed))
    # 0.08 eV: the scatter of the edge position of one 101-point scan in a low-flux session
    # (the quantity while no valence model is installed); at most 40 scans per sample.
    sim = SteeredGradient(settings.kafka.bootstrap_servers, BEAMLINE, sample, seed=seed)
    agent = StageAgent(
        strategy_factory=lambda: BoundaryStrategy(Bounds(0.0, sample.length), 2, 0.5, 0.08,
                                                  max_scans=40),
        plan_name=PLAN_NAME, instance_name="edgestream-demo-agent",
        on_report=None if live is None else live.on_agent)
    agent.transports = [QueueServer(sim.uri), _PrintSuggestions(),
                        AdjudicatorTopic(make_producer(settings.kafka), agent.instance_name,
                                         BEAMLINE)]
    runner = AgentRunner(agent, settings.kafka, BEAMLINE)
    thread = threading.Thread(target=runner.run, args=(stop,), name="agent", daemon=True)
    thread.start()
    runner.caught_up.wait(timeout=30)
    print(f"  agent: locating the 2 valence boundaries of '{GRADIENT_SAMPLE}' (60 mm, "
          f"stage x) to ±0.5 mm; plans go to a local queue at {sim.uri}", flush=True)
    agent.suggest(GRADIENT_SAMPLE)
    return _Steering(sim, agent, thread)


def _start_comparison() -> subprocess.Popen[str]:
    """The grid / k-means / ours comparison, at low priority, while the demo runs."""
    cmd = [sys.executable, "-m", "edgestream_agent.compare", "--samples", "20", "--plot", "-",
           "--eval-step", "4"]
    # Its own session: Ctrl-C in the terminal stops the demo, which then ends this itself.
    return subprocess.Popen(["nice", "-n", "10", *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)


def _agent_done(steer: _Steering | None) -> bool:
    st = None if steer is None else steer.agent.samples.get(GRADIENT_SAMPLE)
    return steer is None or (st is not None and st.stopped is not None)


def run_demo(duration: float = 60.0, metrics_port: int | None = 9464, seed: int = 7,
             port: int | None = None, live_port: int | None = 8765, agent: bool = True,
             compare: bool = True, plugins: list[str] | None = None,
             map_png: Path | None = MAP_PNG, as_json: bool = False) -> int:
    from bluesky.utils import RunEngineInterrupted

    from edgestream_sim.beamline import run_beamline

    t_start = time.monotonic()
    # The annotations are the output here; keep library chatter out of the way.
    for name in ("bluesky", "ophyd", "edgestream.apps.serve", "edgestream_agent"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)  # its event-loop timing notes
    logging.getLogger("edgestream.doors.kafka.service").setLevel(logging.ERROR)  # printed below
    if plugins is None:
        from edgestream.plugin.api import ENTRY_POINT_GROUP, default_names

        # the Cu K motif/screening and the Cu and Mn L2,3 models are opt-in (their cards
        # are below target); the demo shows what they read
        defaults = default_names()
        installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
        plugins = [*defaults, *[n for n in DEMO_OPT_IN if n not in defaults and n in installed]]
    comparison = _start_comparison() if compare else None
    print("edgestream demo: starting the embedded Tansu broker ...", flush=True)
    steer = None
    with EmbeddedTansu(port=port) as broker, \
            tempfile.TemporaryDirectory(prefix="edgestream-demo-data-") as data_dir:
        bootstrap = broker.bootstrap_servers
        print(f"  broker on {bootstrap}, ready in {broker.started_in_s:.2f} s", flush=True)
        settings = _settings(bootstrap, metrics_port, plugins)
        settings.data_roots = {PUBLISHED_DATA_ROOT: data_dir}
        topics = [DOCUMENTS] + [
            t.format(beamline=BEAMLINE)
            for t in (settings.kafka.annotations_topic, settings.kafka.dead_letter_topic,
                      settings.kafka.derived_topic)
        ]
        create_topics(bootstrap, [*topics, ADJUDICATORS], partitions=3)
        stop = threading.Event()
        annotations: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        service, live, server = _service(settings, live_port)
        table = AnnotationTable(as_json=as_json)
        threads = [
            threading.Thread(target=service.run, args=(stop,), name="service", daemon=True),
            threading.Thread(target=_follow, name="annotations", daemon=True,
                             args=(settings, topics[1], stop, annotations, table)),
            threading.Thread(target=_follow, name="deadletters", daemon=True,
                             args=(settings, topics[2], stop, dead, table)),
        ]
        for t in threads:
            t.start()
        if settings.metrics_port:
            print(f"  Prometheus metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
        if server is not None:
            print(f"  live page on {server.url}")
        print("  simulated beamline: Cu and Fe K-edge step and fly scans, fluorescence scans"
              f" (4-element SDD writing HDF5 under {PUBLISHED_DATA_ROOT} = {data_dir}), Cu and"
              " Mn L2,3 EELS spectrum images in turn", flush=True)
        t_beam = time.monotonic()
        try:
            steer = _start_agent(settings, live, stop, seed) if agent else None
            print(flush=True)
            _send_garbage(settings)
            t_beam = time.monotonic()
            remaining = max(5.0, duration - (t_beam - t_start) - 5.0)
            # With the agent on, a few runs of each kind leave it the machine's time.
            counts = {"n_step": 4, "n_fly": 2, "n_eels": 2, "n_fluor": 2, "n_other_k": 2} \
                if steer else {"n_fluor": None, "n_other_k": None}  # other_k: Fe K samples
            summary = run_beamline(bootstrap, beamline=BEAMLINE, duration=remaining,
                                   seed=seed, si_pixels=64, si_rows=16, data_dir=data_dir,
                                   published_root=PUBLISHED_DATA_ROOT, **counts).as_dict()
            # Let the service drain, and the agent finish, within the demo's time.
            deadline = max(time.monotonic() + 5.0, t_start + duration)
            while time.monotonic() < deadline and not (_drained(service) and
                                                        _agent_done(steer)):
                time.sleep(0.5)
            time.sleep(1.0)
        except (KeyboardInterrupt, RunEngineInterrupted):  # Ctrl-C: the RunEngine pauses
            summary = {"interrupted": True}
        elapsed = max(1e-9, time.monotonic() - t_beam)
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # clients see the broker go
        stop.set()
        for t in threads:
            t.join(timeout=10)
        table.close()
        if steer is not None:
            steer.thread.join(timeout=10)
            steer.sim.close()
        if server is not None:
            server.close()
    by_modality = Counter(a["modality"] for a in annotations)
    print("\nsummary")
    print(f"  beamline runs: {summary.get('runs')}, documents published: "
          f"{summary.get('published', {}).get('acked')}")
    print(f"  annotations: {len(annotations)} ({dict(by_modality)}), "
          f"{len(annotations) / elapsed:.1f} spectra/s over {elapsed:.1f} s")
    print(f"  dead letters: {len(dead)} ({dict(Counter(d['reason'] for d in dead))})")
    if summary.get("eels_seconds"):
        print(f"  microscope: {summary['eels_spectra']} EELS spectra in "
              f"{summary['eels_seconds']:.1f} s of EELS runs "
              f"({summary['eels_spectra'] / summary['eels_seconds']:.0f} spectra/s emitted)")
    _print_eels_map(annotations, map_png)
    if steer is not None:
        _print_agent(steer)
    if comparison is not None:
        _print_comparison(comparison, wait=2.0)
    return 0 if annotations else 1


def _service(settings: Settings, live_port: int | None) -> tuple[Any, Any, Any]:
    if not live_port:
        return build_service(settings), None, None
    from edgestream.apps.web.live import build_live_service

    try:
        return build_live_service(settings, port=live_port)
    except OSError:  # the port is taken: any free one will do
        return build_live_service(settings, port=0)


def _print_agent(steer: _Steering) -> None:
    rep = steer.agent.report()["samples"].get(GRADIENT_SAMPLE, {})
    found = [b["center"] for b in rep.get("strategy", {}).get("boundaries", [])
             if b["found"]]
    truth = steer.sim.sample.boundaries
    print(f"  agent on '{GRADIENT_SAMPLE}': {rep.get('n_observations', 0)} scans, "
          f"{rep.get('stopped') or 'still measuring when the demo ended'}")
    print(f"    boundaries found at {', '.join(f'{c:.2f}' for c in found) or '-'} mm "
          f"(true: {', '.join(f'{b:.2f}' for b in truth)} mm; quantity {rep.get('quantity')})")


def _print_comparison(proc: subprocess.Popen[str], wait: float) -> None:
    """The comparison started with the demo (about 5 min on two free cores: a long demo
    prints it); if it is not done within ``wait`` more seconds, the figures of the last
    ``edgestream compare-agents`` run (docs/) instead."""
    print("\ncomparison: grid / k-means / ours over 20 random gradient samples", flush=True)
    try:
        out, _ = proc.communicate(timeout=wait)
        if proc.returncode not in (0, 1):  # 1: ran, target not met; anything else: failed
            raise subprocess.TimeoutExpired(proc.args, wait)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        root = checkout_root()
        saved = root / COMPARISON_DOC if root is not None else None
        if saved is None or not saved.exists():
            print("  not finished in time; run `edgestream compare-agents` for it")
            return
        print(f"  (the live run needs a few minutes; the last full run, from {saved}, "
              "made by `edgestream compare-agents --json ...`:)")
        out = json.loads(saved.read_text())["table"]
    print("\n".join(f"  {line}" for line in out.strip().splitlines()))


def _print_eels_map(annotations: list[dict[str, Any]], png: Path | None) -> None:
    """Each element's last spectrum-image L2,3 valence map (Cu | Cu2O | CuO and
    MnO | Mn2O3 | MnO2 lamellae): mean per layer, and the PNG (Cu: ``png``, another element
    beside it, e.g. ``eels-valence-map-mn.png``)."""
    from edgestream.publish.eelsmap import L_VALENCE_PLUGINS, save_png, valence_map
    from edgestream_sim.devices import EelsSpecimenStage

    for plugin in L_VALENCE_PLUGINS:
        vmap = valence_map(annotations, plugin=plugin)
        if vmap is None:
            continue
        element = vmap.element or plugin.partition("_")[0].capitalize()
        n_px = vmap.value.shape[1]
        layered = EelsSpecimenStage.BY_ELEMENT.get(element, ((), ""))[1]
        layers = EelsSpecimenStage.LAYERED.get(layered, ())
        parts = []
        for compound, lo, hi in layers:
            cols = vmap.value[:, round(lo * n_px):round(hi * n_px)]
            # the pixels next to an interface are mixtures: the layer's inner half only
            inner = cols[:, cols.shape[1] // 4: max(cols.shape[1] // 4 + 1,
                                                     3 * cols.shape[1] // 4)]
            parts.append(f"{compound} {np.nanmean(inner):.2f}" if np.isfinite(inner).any()
                         else f"{compound} -")
        true = ", ".join(str(EelsSpecimenStage.VALENCE[c]) for c, _, _ in layers)
        by_layer = f"; mean valence by layer: {', '.join(parts)} (true {true})" if parts else ""
        print(f"  EELS {element} valence map ({vmap.sample}, run {vmap.run_uid[:8]}): "
              f"{vmap.pixels} pixels, {int(vmap.ood.sum())} out of distribution{by_layer}")
        if png is not None:
            path = png if element == "Cu" else png.with_name(
                f"{png.stem}-{element.lower()}{png.suffix}")
            try:
                print(f"    map: {save_png(vmap, path)}")
            except ImportError:  # matplotlib: the beamline extra
                print("    (install matplotlib for the map's PNG)")
                return


def _drained(service: Any) -> bool:
    return not service.pipeline.router.runs
