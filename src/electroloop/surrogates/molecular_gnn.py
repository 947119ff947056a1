"""A graph isomorphism network with bond features: molecule graph → Gaussian (mean, variance).

GIN sums neighbour messages through an MLP, which makes it as discriminative as the
Weisfeiler-Lehman test (Xu, Hu, Leskovec & Jegelka, "How powerful are graph neural networks?",
ICLR 2019). GINE adds the bond features to each message before the ReLU (Hu et al., "Strategies
for pre-training graph neural networks", ICLR 2020), so a C=O differs from a C–O.

Readout concatenates sum pooling (extensive properties grow with size) and mean pooling
(intensive ones do not), projects it to `hidden` (the graph embedding, reused by mixture
models through `embed`), and an MLP ends in the `GaussianHead` a `DeepEnsemble` trains.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool

from electroloop.errors import ConfigError
from electroloop.surrogates.ensemble import GaussianHead
from electroloop.surrogates.molecule_graph import ATOM_FEATURES, BOND_FEATURES


class MolecularGNN(nn.Module):
    """GINE message passing over `molecule_graph` features; `forward(batch)` → (mean, var),
    each of shape `num_graphs`."""

    def __init__(self, hidden: int = 64, layers: int = 3) -> None:
        super().__init__()
        if not isinstance(hidden, int) or hidden < 1:
            raise ConfigError(f"hidden is {hidden!r}; allowed: an integer >= 1 (default 64)")
        if not isinstance(layers, int) or layers < 1:
            raise ConfigError(f"layers is {layers!r}; allowed: an integer >= 1 (default 3)")
        self.hidden = hidden
        self.atom_in = nn.Linear(ATOM_FEATURES, hidden)
        self.convs = nn.ModuleList(
            GINEConv(
                nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)),
                train_eps=True,
                edge_dim=BOND_FEATURES,
            )
            for _ in range(layers)
        )
        self.readout = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU())
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.head = GaussianHead(hidden)

    def embed(self, batch: Data) -> Tensor:
        """The pooled graph embedding, `num_graphs x hidden`."""
        h = self.atom_in(batch.x)
        for conv in self.convs:
            # The residual keeps each atom's own state, so deeper stacks do not over-smooth.
            h = h + torch.relu(conv(h, batch.edge_index, batch.edge_attr))
        index, size = _graph_index(batch, len(h))
        pooled = torch.cat(
            [global_add_pool(h, index, size), global_mean_pool(h, index, size)], dim=1
        )
        return self.readout(pooled)

    def forward(self, batch: Data) -> tuple[Tensor, Tensor]:
        """Mean and variance, each `num_graphs`, in the (standardised) target's units."""
        return self.head(self.mlp(self.embed(batch)))


def _graph_index(batch: Data, n_nodes: int) -> tuple[Tensor, int]:
    """Graph of each node and the number of graphs; a lone `Data` is one graph."""
    index = getattr(batch, "batch", None)
    if index is None:
        return torch.zeros(n_nodes, dtype=torch.long, device=batch.x.device), 1
    return index, int(batch.num_graphs)
