"""CGCNN-class crystal network: energy per atom (eV/atom) with its own variance.

T. Xie, J. C. Grossman, Phys. Rev. Lett. 120 (2018) 145301, doi:10.1103/PhysRevLett.120.145301:
a linear embedding of each site's element vector, `layers` crystal graph convolutions
(torch-geometric's `CGConv`: x_i + agg_j σ(z_ij W_f + b_f) ⊙ softplus(z_ij W_s + b_s) with
z_ij = x_i ‖ x_j ‖ e_ij, the residual included, each followed by a softplus as in the paper),
mean pooling over sites (so the output is per atom and a supercell predicts what its primitive
cell does), a softplus layer, and a `GaussianHead` for the mean and variance a deep ensemble needs.

Two departures from the paper, both measured on `benchmarks/crystal_surrogate.py`:

- Neighbour messages are averaged, not summed, and batch norm is off by default. Our graphs
  keep every neighbour tied with the 12th (12 to 18 per site), so a sum changes scale with the
  shell; batch statistics over mini-batches of 16 mixed crystals made training erratic and eval
  predictions differ from training ones (single-member test MAE 0.04-0.06 eV/atom with mean and
  no batch norm, 0.06-0.4 with sum or batch norm, over 180 epochs).
- A linear per-element term, averaged over the sites, is added to the mean: learned elemental
  reference energies, as in CHGNet's `AtomRef` composition model (B. Deng et al., Nat. Mach.
  Intell. 5 (2023) 1031). Energy per atom is mostly a weighted sum over the composition; this
  path carries that part directly and leaves the convolutions what the structure adds.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch_geometric.nn import CGConv, global_mean_pool

from electroloop.errors import ConfigError
from electroloop.surrogates.crystal_graph import NODE_FEATURES
from electroloop.surrogates.ensemble import GaussianHead


class CrystalGNN(nn.Module):
    """Crystal graph (`crystal_graph`) batch -> (mean `b`, variance `b`) of energy per atom,
    in whatever units (or standardised units) it was trained on.

    `edge_features` must equal the `gaussians` the graphs were built with (40 by default).
    """

    def __init__(
        self,
        node_features: int = NODE_FEATURES,
        edge_features: int = 40,
        hidden: int = 64,
        layers: int = 3,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ConfigError(f"layers and hidden must be >= 1, got {layers} and {hidden}")
        self.edge_features = edge_features
        self.atom_ref = nn.Linear(node_features, 1, bias=False)
        self.embed = nn.Linear(node_features, hidden)
        self.convs = nn.ModuleList(
            CGConv(hidden, dim=edge_features, aggr="mean", batch_norm=batch_norm)
            for _ in range(layers)
        )
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.Softplus())
        self.head = GaussianHead(hidden)

    def forward(self, batch: Any) -> tuple[Tensor, Tensor]:
        """`batch`: a PyG `Batch` of crystal graphs; returns mean and variance, each `b`."""
        if batch.edge_attr.shape[-1] != self.edge_features:
            raise ConfigError(
                f"graphs have {batch.edge_attr.shape[-1]} edge features, the model expects "
                f"{self.edge_features}; build both with the same number of Gaussians"
            )
        reference = global_mean_pool(self.atom_ref(batch.x), batch.batch, size=batch.num_graphs)
        x = self.embed(batch.x)
        for conv in self.convs:
            x = nn.functional.softplus(conv(x, batch.edge_index, batch.edge_attr))
        pooled = global_mean_pool(x, batch.batch, size=batch.num_graphs)
        mean, var = self.head(self.mlp(pooled))
        return mean + reference.view(-1), var
