"""Virtual screening: rank a SMILES library by an optimistic bound of a deep ensemble's prediction.

The score is the upper confidence bound `mean + kappa·std` when maximising and the lower bound
`mean − kappa·std` when minimising (Srinivas et al., "Gaussian process optimization in the bandit
setting", ICML 2010): with `kappa > 0`, molecules the ensemble is unsure about rank higher, which
is how the loop picks what to measure next. `kappa = 0` ranks by the mean alone.

The file is read lazily and in chunks: worker processes turn SMILES into packed integer graphs
(`molecule_graph.encode_many`, RDKit only) while the parent predicts the chunks already done,
collating each batch once for all ensemble members; memory stays bounded by a few chunks whatever
the library size. Workers are started with "forkserver" (or "spawn" where there is no fork),
never plain "fork", which is unsafe once torch has started its threads. The fork server imports
the caller's `__main__` once per process, so a script that calls `screen` keeps its top-level
code under `if __name__ == "__main__":` and its heavy imports inside functions.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from electroloop.errors import ConfigError
from electroloop.surrogates.ensemble import DeepEnsemble
from electroloop.surrogates.molecule_graph import EncodedGraphs, encode_many, to_batch

Objective = Literal["maximize", "minimize"]

_IN_FLIGHT_PER_WORKER = 2
"""Chunks queued per worker: enough to keep workers busy while the parent predicts."""


@dataclass(frozen=True)
class ScreenRow:
    """One screened molecule; `line` is its 1-based line number in the `.smi` file."""

    line: int
    name: str
    smiles: str
    mean: float
    std: float
    score: float


@dataclass(frozen=True)
class InvalidLine:
    """A line whose SMILES could not become a graph, with the reason."""

    line: int
    smiles: str
    reason: str


@dataclass(frozen=True, eq=False)  # arrays inside: compare fields explicitly
class ScreenResult:
    """Columns of the screened molecules in file order, plus the lines that were skipped.

    `lines`, `mean`, `std` and `score` are arrays of length `n_valid`; `names` and `smiles` are
    tuples of the same length.
    """

    objective: Objective
    kappa: float
    lines: np.ndarray
    names: tuple[str, ...]
    smiles: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    score: np.ndarray
    invalid: tuple[InvalidLine, ...]
    seconds: float

    @property
    def n_valid(self) -> int:
        return len(self.smiles)

    @property
    def n_invalid(self) -> int:
        return len(self.invalid)

    @property
    def n_read(self) -> int:
        """Molecule lines read (comments and blank lines are not counted)."""
        return self.n_valid + self.n_invalid

    def row(self, i: int) -> ScreenRow:
        """The `i`-th valid molecule in file order."""
        return ScreenRow(
            line=int(self.lines[i]),
            name=self.names[i],
            smiles=self.smiles[i],
            mean=float(self.mean[i]),
            std=float(self.std[i]),
            score=float(self.score[i]),
        )

    def rows(self) -> list[ScreenRow]:
        """Every valid molecule, in file order."""
        return [self.row(i) for i in range(self.n_valid)]

    def ranking(self) -> np.ndarray:
        """Indices from best score to worst; ties keep file order."""
        key = -self.score if self.objective == "maximize" else self.score
        return np.argsort(key, kind="stable")

    def top(self, k: int) -> list[ScreenRow]:
        """The `k` best molecules by score, best first (fewer if the library is smaller)."""
        if not isinstance(k, int) or k < 0:
            raise ConfigError(f"k is {k!r}; allowed: an integer >= 0")
        return [self.row(int(i)) for i in self.ranking()[:k]]


def read_smi(path: str | Path) -> Iterator[tuple[int, str, str]]:
    """Yield (line number, SMILES, name) lazily; the name is "" when the line has none.

    Only whole-line comments start with `#`: inside a SMILES `#` is a triple bond.
    """
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            parts = stripped.split(None, 1)
            yield number, parts[0], parts[1].strip() if len(parts) > 1 else ""


def _chunks(path: Path, size: int) -> Iterator[list[tuple[int, str, str]]]:
    chunk: list[tuple[int, str, str]] = []
    for entry in read_smi(path):
        chunk.append(entry)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _encoded_chunks(
    path: Path, chunk_size: int, workers: int
) -> Iterator[tuple[list[tuple[int, str, str]], EncodedGraphs]]:
    """(entries, their encoding) in file order; with `workers > 1`, a bounded window of chunks
    is encoded ahead in a process pool while the caller predicts."""
    if workers == 1:
        for chunk in _chunks(path, chunk_size):
            yield chunk, encode_many([smiles for _, smiles, _ in chunk])
        return
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with context.Pool(workers) as pool:
        pending: deque[tuple[list[tuple[int, str, str]], AsyncResult]] = deque()
        for chunk in _chunks(path, chunk_size):
            pending.append(
                (chunk, pool.apply_async(encode_many, ([smiles for _, smiles, _ in chunk],)))
            )
            if len(pending) >= _IN_FLIGHT_PER_WORKER * workers:
                entries, job = pending.popleft()
                yield entries, job.get()
        while pending:
            entries, job = pending.popleft()
            yield entries, job.get()


_PREDICT_BATCH = 128
"""Molecules per forward pass: measured fastest on CPU (larger batches fall out of cache)."""


@torch.inference_mode()
def predict_encoded(
    ensemble: DeepEnsemble, encoded: EncodedGraphs
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the ensemble's Gaussian mixture for packed molecules, in target units.

    Batches are collated straight from the packed arrays, never through `Data` objects.
    """
    batches = (
        to_batch(encoded.slice(start, start + _PREDICT_BATCH))
        for start in range(0, encoded.num_graphs, _PREDICT_BATCH)
    )
    prediction = ensemble.predict_batches(batches)
    return prediction.mean, prediction.std


def _count_molecule_lines(path: Path) -> int:
    return sum(1 for _ in read_smi(path))


def screen(
    path: str | Path,
    ensemble: DeepEnsemble,
    *,
    objective: Objective = "maximize",
    kappa: float = 1.0,
    chunk_size: int = 2048,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScreenResult:
    """Predict every molecule of a `.smi` file (SMILES, optional name; `#` comment lines) with
    `ensemble` (of `MolecularGNN`s) and score it; invalid lines are reported, not raised.

    `workers` processes featurise (default: `os.cpu_count()`; 1 featurises in this process).
    `progress(done, total)` is called after each chunk with molecule lines handled so far and
    in the file (counted by a quick first pass).
    """
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"SMILES library {str(source)!r} is not a file")
    if objective not in ("maximize", "minimize"):
        raise ConfigError(f"objective is {objective!r}; allowed: 'maximize' or 'minimize'")
    if not math.isfinite(kappa) or kappa < 0.0:
        raise ConfigError(f"kappa is {kappa!r}; allowed: a finite number >= 0")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size is {chunk_size!r}; allowed: an integer >= 1")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers is {workers!r}; allowed: an integer >= 1")

    started = time.perf_counter()
    total = _count_molecule_lines(source) if progress is not None else 0
    lines: list[np.ndarray] = []
    names: list[str] = []
    smiles: list[str] = []
    means: list[np.ndarray] = []
    stds: list[np.ndarray] = []
    invalid: list[InvalidLine] = []
    done = 0
    threads = torch.get_num_threads()
    if workers > 1:
        # The workers already fill the cores; torch's intra-op threads would spin against them
        # (measured 2.4x slower on 2 cores), so predict on one thread meanwhile.
        torch.set_num_threads(1)
    try:
        for entries, encoded in _encoded_chunks(source, chunk_size, workers):
            bad = dict(encoded.invalid)
            for i, (number, text, _) in enumerate(entries):
                if i in bad:
                    invalid.append(InvalidLine(line=number, smiles=text, reason=bad[i]))
            kept = [entry for i, entry in enumerate(entries) if i not in bad]
            lines.append(np.array([number for number, _, _ in kept], dtype=np.int64))
            smiles.extend(text for _, text, _ in kept)
            names.extend(name for _, _, name in kept)
            mean, std = predict_encoded(ensemble, encoded)
            means.append(mean)
            stds.append(std)
            done += len(entries)
            if progress is not None:
                progress(done, total)
    finally:
        torch.set_num_threads(threads)

    mean_all = np.concatenate(means) if means else np.zeros(0)
    std_all = np.concatenate(stds) if stds else np.zeros(0)
    sign = 1.0 if objective == "maximize" else -1.0
    return ScreenResult(
        objective=objective,
        kappa=float(kappa),
        lines=np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64),
        names=tuple(names),
        smiles=tuple(smiles),
        mean=mean_all,
        std=std_all,
        score=mean_all + sign * kappa * std_all,
        invalid=tuple(invalid),
        seconds=time.perf_counter() - started,
    )


def write_csv(result: ScreenResult, path: str | Path, scored_by: str = "") -> Path:
    """Write the valid molecules best first: rank, line, name, smiles, mean, std, score, and
    the model that scored them (its name and version)."""
    target = Path(path)
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "line", "name", "smiles", "mean", "std", "score", "scored_by"])
        for rank, i in enumerate(result.ranking(), start=1):
            writer.writerow(
                [
                    rank,
                    int(result.lines[i]),
                    result.names[i],
                    result.smiles[i],
                    float(result.mean[i]),
                    float(result.std[i]),
                    float(result.score[i]),
                    scored_by,
                ]
            )
    return target
