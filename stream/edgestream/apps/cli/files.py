"""The files door's verbs: annotate files offline, replay them onto Kafka as runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import edgestream.apps.cli.common as common


def cmd_annotate(args: argparse.Namespace) -> int:
    from edgestream.doors.files.door import annotate_file, foil_scan_calibration
    from edgestream.errors import StreamError
    from edgestream.plugin.api import discover
    from edgestream.publish.table import AnnotationTable

    settings = common.settings_from_args(args)
    models = discover(settings.plugins)
    shift = args.energy_shift
    if args.foil_scan:
        try:
            foil = foil_scan_calibration(args.foil_scan, [Path(p) for p in args.files],
                                         args.element, args.edge, args.reference_e0)
        except StreamError as exc:
            print(f"foil scan {args.foil_scan}: {exc.reason}: {exc.message}", file=sys.stderr)
            return 1
        shift = foil.shift_ev
        print(f"foil scan {args.foil_scan}: {foil.element} {foil.edge} edge at "
              f"{foil.measured_e0:.2f} eV -> shift {shift:+.2f} eV for every spectrum",
              file=sys.stderr)
    failed = 0
    table = AnnotationTable(as_json=args.json,
                            source_width=min(24, max(len(Path(p).name) for p in args.files)))
    for path in args.files:
        result = annotate_file(Path(path), settings, models, element=args.element,
                               edge=args.edge, energy_shift_ev=shift,
                               eels=args.eels,
                               reference=Path(args.reference) if args.reference else None,
                               reference_e0_ev=args.reference_e0,
                               composition=args.composition)
        for a in result.annotations:
            table(a, source=Path(path).name)
        for f in result.failures:
            failed += 1
            print(f"{path}: {f.error.reason}: {f.error.message}", file=sys.stderr)
    table.close()
    return common.EXIT_FAILED if failed else common.EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from edgestream.documents.wire import encode
    from edgestream.doors.files.door import file_documents
    from edgestream.doors.kafka.clients import make_producer, wait_for_kafka

    settings = common.settings_from_args(args)
    topic = f"{settings.beamline}.bluesky.runengine.documents"
    wait_for_kafka(settings.kafka, common.stop_event(None), settings.kafka.connect_timeout_s)
    producer = make_producer(settings.kafka)
    for path in args.files:
        docs = file_documents(Path(path), args.element, args.edge)
        for name, doc in docs:
            producer.send(topic, key=docs[0][1]["uid"].encode(), value=encode(name, doc))
        print(f"{path}: run {docs[0][1]['uid']} -> {topic}")
    producer.flush()
    producer.close()
    return 0


def add_file_verbs(add_verb: Callable[..., argparse.ArgumentParser]) -> None:
    """annotate and replay."""
    p = add_verb("annotate", help="annotate XDI, column, Athena or Gatan .dm3/.dm4 files offline")
    p.add_argument("files", nargs="+")
    p.add_argument("--element", help="absorbing element when the file does not say")
    p.add_argument("--edge", help="edge when the file does not say")
    shift = p.add_mutually_exclusive_group()
    shift.add_argument("--energy-shift", type=float,
                       help="eV added to the file's energies (e.g. from the day's foil scan)")
    p.add_argument("--reference", metavar="FOIL_FILE",
                   help="the reference foil measured in the same scan, in its own file: the "
                   "energies are aligned on its edge (a file's own Iref or mu_ref column is "
                   "used without this)")
    shift.add_argument("--foil-scan", metavar="FOIL",
                       help="a foil scanned on its own in the same session (a file, or a "
                       "group label of an Athena project given): its edge sets the shift of "
                       "every spectrum")
    p.add_argument("--reference-e0", type=float, metavar="EV",
                   help="where the reference's edge belongs when it is not the element's foil "
                   "(default: the tabulated edge, e.g. Cu K 8979.0)")
    p.add_argument("--eels", action="store_true",
                   help="EELS: columns are energy loss (eV) and counts (e.g. --element Cu "
                   "--edge L2,3)")
    p.add_argument("--composition", metavar="FORMULA",
                   help="what the sample is made of (e.g. CuFe2O4 or 'Cu,Fe,O'): structure "
                   "screening ranks only candidates of these elements (default: the XDI "
                   "Sample.stoichiometry or Sample.formula)")
    common.json_flag(p)
    p.set_defaults(func=cmd_annotate)

    p = add_verb("replay", help="publish a spectrum file to Kafka as a Bluesky run")
    common.kafka_flags(p)
    p.add_argument("files", nargs="+")
    p.add_argument("--element")
    p.add_argument("--edge")
    p.set_defaults(func=cmd_replay)
