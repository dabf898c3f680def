"""Cu L2,3 multiplet training data with edrixs (GPL-3.0-or-later: training only).

``grid`` (parameter sets), ``solve`` (edrixs exact diagonalization -> sticks), ``spectrum``
(broadening, temperature, continuum step), ``calibration`` (literature energies),
``generate`` (cache, parallel run, archive), ``dataset`` (rows of the Cu L2,3 data set),
``evaluate`` (combined with FEFF10, the ledge forests scored). See DATASET.md.
"""
