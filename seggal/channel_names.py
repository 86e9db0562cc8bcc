"""Channel names → which channel is nuclear and which is membrane / cytoplasm.

Microscope files name their channels (``DAPI``, ``Hoechst 33342``, ``E-cadherin``, ``Na/K-ATPase`` …);
:func:`suggest_channels` turns those names into a suggested :class:`~seggal.image.ChannelSpec`-style pair of
indices, for the command line and the Segment page alike.
"""

from __future__ import annotations

import re
from typing import Sequence

#: Name fragments of nuclear stains and DNA markers (lower case, compared after removing punctuation).
NUCLEAR = ("dapi", "hoechst", "dna", "nuclear", "nuclei", "nucleus", "draq5", "draq7", "syto", "histone", "h3",
           "ir191", "ir193", "sytox", "topro", "propidium", "redot")
#: Name fragments of membrane / cytoplasm markers used for whole-cell segmentation (TissueNet's panels).
MEMBRANE = ("membrane", "cytoplasm", "cyto", "ecadherin", "ecad", "cdh1", "nakatpase", "atp1a1", "panck",
            "pancytokeratin", "cytokeratin", "keratin", "cd45", "cd44", "betacatenin", "catenin", "wga", "hla",
            "vimentin", "actin", "phalloidin", "cellmask", "cd3", "cd8", "cd4", "cd20", "cd68", "cd11c", "cd31")


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _first(names: Sequence[str], fragments: Sequence[str], skip: int | None = None) -> int | None:
    """Index of the first name matching the earliest fragment of ``fragments`` (their order is priority)."""
    normal = [_normal(n) for n in names]
    for fragment in fragments:
        for i, name in enumerate(normal):
            if i != skip and fragment in name:
                return i
    return None


def suggest_channels(names: Sequence[str]) -> tuple[int | None, int | None]:
    """(nuclear index, membrane index) suggested from channel ``names``; ``None`` where no name fits.

    Matching ignores case and punctuation ("E-Cadherin" = "ecadherin"); fragments are tried in order of
    how specific they are, so "DAPI" wins over a channel merely called "nuclear marker 2".
    """
    nuclear = _first(names, NUCLEAR)
    membrane = _first(names, MEMBRANE, skip=nuclear)
    return nuclear, membrane


def channel_index(value: int | str | None, names: Sequence[str], role: str) -> int | None:
    """A channel given as an index or a name → its index (``None`` stays ``None``).

    Raises :class:`~seggal.errors.SegGalError` for a name that is not among ``names``.
    """
    if value is None or isinstance(value, int):
        return value
    from seggal.errors import SegGalError

    matches = [i for i, n in enumerate(names) if _normal(n) == _normal(value)]
    if not matches:
        listed = ", ".join(names) if names else "(this file names no channels)"
        raise SegGalError(f"{role} channel {value!r}: no channel of that name; channels: {listed}")
    return matches[0]
