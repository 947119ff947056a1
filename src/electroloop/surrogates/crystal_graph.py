"""pymatgen `Structure` -> periodic radius graph (PyG `Data`) in the CGCNN form.

T. Xie, J. C. Grossman, "Crystal Graph Convolutional Neural Networks for an Accurate and
Interpretable Prediction of Material Properties", Phys. Rev. Lett. 120 (2018) 145301,
doi:10.1103/PhysRevLett.120.145301: one node per site, an edge to each of the `max_neighbors`
nearest periodic neighbours within `cutoff`, edge features a Gaussian expansion of the distance.

Neighbours come from `Structure.get_neighbor_list`, which walks the periodic images of every
site (torch-geometric's `radius_graph` needs pyg-lib, which is not installed, and ignores
periodicity). Neighbours tied with the last one kept (within `TIE_TOLERANCE`) are kept too, so
the graph does not depend on site order or on the choice of supercell.

Graph layout (`n` sites, `E` edges, `F = NODE_FEATURES`, `G = gaussians`):

- `x`: `n x F` float32, `element_features` of each site's element;
- `edge_index`: `2 x E` int64, row 0 the neighbour (message source), row 1 the centre site, so
  PyG's default source-to-target flow sums messages into each centre;
- `edge_attr`: `E x G` float32 Gaussian expansion; `distance`: `E` float32 in Å;
- `edge_image`: `E x 3` int64 lattice translation of the neighbour.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
from pymatgen.core import Element, Structure
from torch_geometric.data import Data

from electroloop.errors import ConfigError

MAX_Z = 94
"""One-hot slots cover H (1) .. Pu (94), the elements with data in pymatgen's `Element`."""

ELEMENT_PROPERTIES = ("electronegativity", "row", "group", "atomic_radius")
"""Scaled element properties after the one-hot block: Pauling electronegativity / 4,
periodic-table row / 7, group / 18, atomic radius / 3 Å (pymatgen `Element.X`, `.row`, `.group`,
`.atomic_radius`; a missing value, e.g. the electronegativity of He, is 0). They let the model
carry what it learns about one element over to its neighbours in the table, which a bare one-hot
cannot, as CGCNN's own 92-dim atom vectors do (Xie & Grossman 2018, Table S2)."""

NODE_FEATURES = MAX_Z + len(ELEMENT_PROPERTIES)
"""Length of the per-site vector: one-hot over Z = 1..94, then `ELEMENT_PROPERTIES`."""

MIN_DISTANCE = 0.5
"""Å; two sites closer than this overlap (the shortest real bond, H-H, is 0.74 Å)."""

TIE_TOLERANCE = 1e-3
"""Å; neighbours this close to the last one kept count as the same shell."""


class InvalidStructure(ConfigError):
    """A structure cannot become a crystal graph; the message names its formula and why."""


@functools.cache
def _element_table() -> np.ndarray:
    """`MAX_Z x NODE_FEATURES` float32; row Z-1 is the vector of element Z."""
    table = np.zeros((MAX_Z, NODE_FEATURES), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for elements with no Pauling X
        for z in range(1, MAX_Z + 1):
            element = Element.from_Z(z)
            radius = element.atomic_radius
            x = float(element.X)
            table[z - 1, z - 1] = 1.0
            table[z - 1, MAX_Z:] = (
                x / 4.0 if np.isfinite(x) else 0.0,
                element.row / 7.0,
                element.group / 18.0,
                float(radius) / 3.0 if radius is not None else 0.0,
            )
    return table


def element_features(z: int) -> np.ndarray:
    """The `NODE_FEATURES` vector of the element with atomic number `z` (1..94)."""
    if not 1 <= z <= MAX_Z:
        raise ConfigError(f"element Z={z} is outside 1..{MAX_Z}, the elements with features")
    row: np.ndarray = _element_table()[z - 1].copy()
    return row


def gaussian_expansion(distance: np.ndarray, cutoff: float, gaussians: int) -> np.ndarray:
    """`E` distances (Å) -> `E x gaussians` values exp(-(d - μ_k)² / σ²), μ_k evenly spaced on
    [0, cutoff] and σ their spacing (CGCNN's choice, Xie & Grossman 2018)."""
    centres = np.linspace(0.0, cutoff, gaussians)
    width = centres[1] - centres[0]
    values: np.ndarray = np.exp(-(((distance[:, None] - centres[None, :]) / width) ** 2))
    return values.astype(np.float32)


def _check_parameters(cutoff: float, max_neighbors: int, gaussians: int) -> None:
    if not (np.isfinite(cutoff) and cutoff > MIN_DISTANCE):
        raise ConfigError(f"cutoff must be a finite number > {MIN_DISTANCE} Å, got {cutoff}")
    if max_neighbors < 1:
        raise ConfigError(f"max_neighbors must be >= 1, got {max_neighbors}")
    if gaussians < 2:
        raise ConfigError(f"gaussians must be >= 2, got {gaussians}")


def _name(structure: Structure) -> str:
    return f"structure {structure.composition.reduced_formula} ({len(structure)} sites)"


def _check_structure(structure: Structure) -> None:
    """Raise `InvalidStructure` for what the graph cannot represent."""
    if len(structure) == 0:
        raise InvalidStructure("structure (empty, 0 sites) has no sites to make a graph of")
    matrix = structure.lattice.matrix
    if not np.isfinite(matrix).all():
        raise InvalidStructure(f"{_name(structure)} has a non-finite lattice matrix {matrix}")
    if abs(np.linalg.det(matrix)) < 1e-6:
        raise InvalidStructure(f"{_name(structure)} has a degenerate lattice (volume ~0 Å³)")
    if not np.isfinite(structure.frac_coords).all():
        raise InvalidStructure(f"{_name(structure)} has non-finite site coordinates")
    if not structure.is_ordered:
        raise InvalidStructure(
            f"{_name(structure)} is disordered (partial occupancy); crystal graphs need one "
            "element per site: order it first, e.g. with OrderDisorderedStructureTransformation"
        )
    unknown = sorted({str(e) for e in structure.composition if not 1 <= e.Z <= MAX_Z})
    if unknown:
        raise InvalidStructure(f"{_name(structure)} has elements {unknown} beyond Z = {MAX_Z}")
    centres, neighbours, images, distances = structure.get_neighbor_list(
        r=MIN_DISTANCE, exclude_self=False
    )
    itself = (centres == neighbours) & np.all(images == 0, axis=1)
    if (~itself).any():
        k = int(np.flatnonzero(~itself)[0])
        i, j = int(centres[k]), int(neighbours[k])
        raise InvalidStructure(
            f"{_name(structure)} has overlapping sites {i} ({structure[i].specie}) and {j} "
            f"({structure[j].specie}) {distances[k]:.3f} Å apart (< {MIN_DISTANCE} Å)"
        )


def _nearest(
    centres: np.ndarray, distances: np.ndarray, sites: int, max_neighbors: int
) -> np.ndarray:
    """Indices of the edges kept: per centre the `max_neighbors` nearest and any tied with the
    last of them."""
    order = np.lexsort((distances, centres))  # by centre, then by distance
    keep = []
    for i in range(sites):
        rows = order[centres[order] == i]
        if len(rows) > max_neighbors:
            last = distances[rows[max_neighbors - 1]]
            rows = rows[distances[rows] <= last + TIE_TOLERANCE]
        keep.append(rows)
    return np.concatenate(keep)


def crystal_graph(
    structure: Structure, cutoff: float = 5.0, max_neighbors: int = 12, gaussians: int = 40
) -> Data:
    """The CGCNN graph of `structure` (layout in the module docstring).

    Raises `InvalidStructure` naming the formula for an empty, disordered or overlapping
    structure, a non-finite lattice, or a site with no neighbour within `cutoff` Å.
    """
    _check_parameters(cutoff, max_neighbors, gaussians)
    _check_structure(structure)
    centres, neighbours, images, distances = structure.get_neighbor_list(r=cutoff)
    lonely = sorted(set(range(len(structure))) - set(centres.tolist()))
    if lonely:
        raise InvalidStructure(
            f"{_name(structure)} has isolated sites {lonely[:5]} ({structure[lonely[0]].specie}"
            f", ...) with no neighbour within the {cutoff} Å cutoff; raise the cutoff"
        )
    kept = _nearest(centres, distances, len(structure), max_neighbors)
    centres, neighbours, distances = centres[kept], neighbours[kept], distances[kept]
    x = np.stack([_element_table()[site.specie.Z - 1] for site in structure])
    return Data(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(np.stack([neighbours, centres]).astype(np.int64)),
        edge_attr=torch.from_numpy(gaussian_expansion(distances, cutoff, gaussians)),
        distance=torch.from_numpy(distances.astype(np.float32)),
        edge_image=torch.from_numpy(np.asarray(images[kept], dtype=np.int64)),
        num_nodes=len(structure),
    )
