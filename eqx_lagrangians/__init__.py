"""Convex Lagrangians of neuron layers, as trainable Equinox modules."""

import importlib.metadata as _metadata

from ._algebra import Scaled as Scaled, Sum as Sum
from ._descent import descend as descend, DescentResult as DescentResult
from ._elementwise import (
    ELU as ELU,
    Exp as Exp,
    Identity as Identity,
    ReLU as ReLU,
    RePU as RePU,
    RExp as RExp,
    Sigmoid as Sigmoid,
    Tanh as Tanh,
)
from ._functional import (
    lagr_elu as lagr_elu,
    lagr_entmax as lagr_entmax,
    lagr_exp as lagr_exp,
    lagr_ghostmax as lagr_ghostmax,
    lagr_identity as lagr_identity,
    lagr_layernorm as lagr_layernorm,
    lagr_relu as lagr_relu,
    lagr_repu as lagr_repu,
    lagr_rexp as lagr_rexp,
    lagr_rmsnorm as lagr_rmsnorm,
    lagr_sigmoid as lagr_sigmoid,
    lagr_softmax as lagr_softmax,
    lagr_sparsemax as lagr_sparsemax,
    lagr_spherical_norm as lagr_spherical_norm,
    lagr_tanh as lagr_tanh,
)
from ._lagrangian import AbstractLagrangian as AbstractLagrangian
from ._memory import AssociativeMemory as AssociativeMemory
from ._neurons import NeuronLayer as NeuronLayer
from ._normalizing import (
    Ghostmax as Ghostmax,
    LayerNorm as LayerNorm,
    RMSNorm as RMSNorm,
    Softmax as Softmax,
    SphericalNorm as SphericalNorm,
)
from ._sparse import Entmax as Entmax, Sparsemax as Sparsemax
from ._synapses import (
    BiasSynapse as BiasSynapse,
    ConvSynapse as ConvSynapse,
    DenseSynapse as DenseSynapse,
    LogSumExpSynapse as LogSumExpSynapse,
)


__version__ = _metadata.version("eqx_lagrangians")
