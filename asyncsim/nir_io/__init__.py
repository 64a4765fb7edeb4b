"""NIR (Neuromorphic Intermediate Representation) import and export (optional extra ``nir``).

* :func:`load_nir` / :func:`from_nir` (:mod:`.importer`): a NIR file or graph to a network,
  read with a framework convention (:mod:`.conventions`: ``nir``, ``snntorch``, ``norse``,
  ``sinabs``, ``rockpool``) because NIR stores no timestep and exporters write their discrete
  updates into it differently;
* :func:`save_nir` / :func:`to_nir` (:mod:`.exporter`): a network to NIR, read back exactly
  with the ``nir`` convention.

``docs/ecosystem.md`` has, per framework, the nodes, the ``--dt``/``--reset`` to use and the
test that proves each match.
"""

from .conventions import CONVENTIONS, Convention
from .exporter import save_nir, to_nir
from .importer import from_nir, load_nir, read_graph

__all__ = ["CONVENTIONS", "Convention", "from_nir", "load_nir", "read_graph", "save_nir",
           "to_nir"]
