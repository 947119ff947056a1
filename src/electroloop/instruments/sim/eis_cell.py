"""A simulated two-electrode conductivity cell on a potentiostat's impedance channel.

In-process (no wire protocol: no potentiostat driver speaks EIS here yet), it is the
`ImpedanceSource` of `electroloop.instruments.eis_probe` for dry runs and tests. The cell holds
the vial at the meter place of `bench` (else the one on the balance); its bulk resistance is
R_b = K / κ with κ the bench's true conductivity, its geometric capacitance C_g = ε₀ε_r / K
(ε_r = 20, a carbonate blend: an assumption), its double layer a CPE (`q`, `n`: blocking
stainless-steel electrodes of about 1 cm², an assumption). Each point carries complex noise of
`relative_noise` × |Z| (0.2 %, a potentiostat's impedance accuracy class, assumed), from the
bench's seeded ``eis`` stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from electroloop.instruments.eis_probe import cell_impedance
from electroloop.instruments.sim.bench import SimulatedBench

__all__ = ["SimulatedEisCell"]

VACUUM_PERMITTIVITY = 8.8541878128e-14  # F/cm (CODATA 2018)


class SimulatedEisCell:
    """A blocking cell of constant `cell_constant` (cm⁻¹) in the vial on `bench`."""

    def __init__(
        self,
        bench: SimulatedBench,
        *,
        cell_constant: float = 1.0,
        permittivity: float = 20.0,
        q: float = 1e-5,
        n: float = 0.9,
        relative_noise: float = 0.002,
    ) -> None:
        self.bench = bench
        self.cell_constant = cell_constant
        self.permittivity = permittivity
        self.q = q
        self.n = n
        self.relative_noise = relative_noise
        self._rng = bench.rng("eis")

    def sweep(self, frequencies: Sequence[float]) -> list[complex]:
        """Z at each frequency (Hz), Ω, with noise."""
        kappa = self.bench.true_conductivity() / 1000.0  # S/cm
        resistance = self.cell_constant / kappa
        capacitance = VACUUM_PERMITTIVITY * self.permittivity / self.cell_constant
        z = cell_impedance(np.asarray(frequencies), resistance, capacitance, self.q, self.n)
        noise = self._rng.normal(0.0, self.relative_noise, (2, z.size))
        return [complex(v) for v in z + np.abs(z) * (noise[0] + 1j * noise[1])]

    def temperature(self) -> float:
        """The bench temperature, °C (the cell sits in the thermostatted block)."""
        return float(self.bench.temperature)
