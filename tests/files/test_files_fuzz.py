"""The files door is not tuned to the corpus's names: column files made up here with
random channel names (common ones, or names that say nothing), energies in eV or keV, either
scan direction, extra and dead counters, must still give the right spectrum; and broken
files must give a typed reason, never ``internal``."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgestream.config.settings import Settings
from edgestream.doors.files.door import annotate_file, file_documents
from edgestream.errors import StreamError

EDGES = {"Fe": 7112.0, "Cu": 8979.0, "Zn": 9659.0, "As": 11867.0}
I0_NAMES = ["I0", "Io", "i0_eh1", "PreKB-I0", "I0-32", "mon", "izero"]
IT_NAMES = ["It", "I1", "IT", "i1_eh1", "It-32", "itrans"]
IF_NAMES = ["If", "iff", "Lytle", "fluor", "IF-32"]
MUTE = ["det_a", "det_b", "chan3", "sig7", "ctr9", "aux"]  # names that say nothing


def spectrum(energy: np.ndarray, e0: float) -> np.ndarray:
    """A K-edge μ(E) of a dilute-to-thick sample: Victoreen pre-edge, arctan step, white
    line, EXAFS wiggles."""
    rel = energy - e0
    return (0.3 * (e0 / energy) ** 3 + 0.5 + np.arctan(rel / 1.5) / np.pi
            + 0.3 * np.exp(-((rel - 6) / 4) ** 2) + 0.04 * np.sin(rel / 9) * (rel > 5))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(element=st.sampled_from(sorted(EDGES)), mode=st.sampled_from(["trans", "fluor"]),
       named=st.booleans(), kev=st.booleans(), reverse=st.booleans(),
       extra=st.integers(0, 3), dead=st.booleans(), seed=st.integers(0, 2**16),
       names=st.permutations(range(6)), csv=st.booleans())
def test_made_up_column_files(tmp_path, element, mode, named, kev, reverse, extra, dead,
                              seed, names, csv):
    rng = np.random.default_rng(seed)
    e0 = EDGES[element]
    energy = np.concatenate([np.arange(e0 - 150, e0 - 20, 5.0),
                             np.arange(e0 - 20, e0 + 30, 0.5), np.arange(e0 + 30, e0 + 400, 3.0)])
    mu = spectrum(energy, e0)
    decay = 1 - 0.1 * (energy - energy[0]) / np.ptp(energy)  # the ring current falls
    i0 = 2e5 * decay * (1 + 0.002 * rng.standard_normal(energy.size))
    columns: dict[str, np.ndarray] = {}
    mute = [MUTE[i] for i in names]
    i0_name = rng.choice(I0_NAMES) if named else mute.pop()
    columns[i0_name] = i0
    if mode == "trans":
        sig_name = rng.choice(IT_NAMES) if named else mute.pop()
        columns[sig_name] = i0 * np.exp(-mu) * (1 + 0.001 * rng.standard_normal(energy.size))
    else:
        sig_name = rng.choice(IF_NAMES) if named else mute.pop()
        columns[sig_name] = rng.poisson(i0 * 0.05 * mu).astype(float)
    for _ in range(extra):  # counters that see no edge: a slit monitor, a temperature
        columns[mute.pop()] = 1e4 + 50 * rng.standard_normal(energy.size)
    if dead:
        columns[mute.pop()] = np.zeros(energy.size)
    order = list(columns)
    rng.shuffle(order)
    table = np.column_stack([energy / 1000.0 if kev else energy] + [columns[k] for k in order])
    if reverse:
        table = table[::-1]
    path = tmp_path / f"scan_{seed}.{'csv' if csv else 'dat'}"
    header = ["energy", *order]
    sep = "," if csv else " "
    lines = [sep.join(header) if csv else "# " + " ".join(header)]
    lines += [sep.join(f"{v:.8g}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")

    out = annotate_file(path, Settings(), [])
    assert not out.failures, [f.error.as_dict() for f in out.failures]
    (a,) = out.annotations
    assert (a["element"], a["edge"]) == (element, "K")
    assert a["modality"] == ("xas_transmission" if mode == "trans" else "xas_fluorescence")
    start = dict(file_documents(path))["start"]
    role = "it" if mode == "trans" else "if"
    def same(column: str, label: str) -> bool:
        return column.replace("_", "") == label.lower().replace("-", "").replace("_", "")

    assert same(start["channels"]["i0"], i0_name) and same(start["channels"][role], sig_name)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400),
    st.lists(st.lists(st.sampled_from(["1", "2.5", "nan", "inf", "-3", "x", "", "1e400"]),
                      min_size=1, max_size=5), max_size=40).map(
        lambda rows: "\n".join(" ".join(r) for r in rows))))
def test_broken_files_give_a_typed_reason(tmp_path, content):
    path = tmp_path / "broken.dat"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    out = annotate_file(path, Settings(), [])
    for failure in out.failures:
        assert isinstance(failure.error, StreamError)
        assert failure.error.reason != "internal", failure.error.as_dict()
