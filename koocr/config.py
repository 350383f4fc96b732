"""The configuration that defines a KoOCR model, saved as JSON next to its weights."""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from koocr import __version__, patches

# Constructor arguments reserved for the training-methods work: accepted by name so the
# seed's interface stays, but refused until they are implemented.
PENDING_METHODS: tuple[str, ...] = ()


@dataclass
class ModelConfig:
    """Everything needed to rebuild a network and feed it exactly as in training.

    Attributes:
        network_type: builder name in ``koocr.networks.NETWORKS`` (aliases allowed).
        split_components: three jamo heads (initial/medial/final) instead of one softmax.
        fc_link: pooling between the conv features and the heads: flatten, GAP, GWAP, GWOAP.
        image_size: side of the square input.
        charset: classes of the single head / syllables trained on ('ks2350', 'all' or a list).
        margin: glyph margin used by the shared normalisation.
        placement: the seed's fixed (x_offset, y_offset, char_size), or None to centre.
        network_args: extra keyword arguments of the builder (widths, dropout, ...).
        direct_map: 8 gradient-direction planes + the image as the first conv's input.
        data_augmentation: random rotation / zoom / translation / shear in training only.
        iterative_refinement, refinement_t: ``refinement_t`` attention steps on the
            features, the outputs from the last (``koocr.methods``).
        method_args: knobs of those methods, see ``koocr.methods.METHOD_ARGS``
            (``direct_map_trainable``, ``direct_map_sigma``, ``augmentation`` ranges).
    """

    network_type: str = "melnyk"
    split_components: bool = True
    fc_link: str = "GWAP"
    image_size: int = 96
    charset: Any = "ks2350"
    direct_map: bool = False
    data_augmentation: bool = False
    adversarial_learning: bool = False
    iterative_refinement: bool = False
    refinement_t: int = 4
    margin: float = 0.1
    placement: list[int] | None = None
    network_args: dict = field(default_factory=dict)
    method_args: dict = field(default_factory=dict)
    version: str = __version__

    def __post_init__(self):
        # Checked here, not at the first predict(): a bad value would also be saved with the weights.
        if isinstance(self.image_size, numbers.Integral) and not isinstance(self.image_size, bool):
            self.image_size = int(self.image_size)  # np.int64(48) is an image size too
        margin = self.margin
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not 0 <= margin < 0.5:
            raise ValueError(f"margin must be a number in [0, 0.5) (a fraction of the side). Received: margin={margin!r}")
        self.margin = float(margin)
        if self.placement is not None:
            p = list(self.placement)
            size = self.image_size if isinstance(self.image_size, int) else 0
            if len(p) != 3 or not all(is_int(v, 0) for v in p) or p[2] < 1 or max(p[0], p[1]) + p[2] > size:
                raise ValueError(
                    "placement must be [x_offset, y_offset, char_size]: integers, offsets >= 0 and the "
                    f"char_size box inside the {self.image_size}px image. Received: placement={self.placement!r}"
                )
            self.placement = [int(v) for v in p]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown config keys {unknown}; expected a subset of {sorted(names)}")
        return cls(**data)


def is_int(value: object, low: int = 1) -> bool:
    """An integer (a numpy one too, not a bool) of at least ``low``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def check_settings(values: Mapping[str, object], checks: Mapping[str, tuple[bool, str]]) -> None:
    """Raises ValueError for the first ``name: (valid, expected)`` of ``checks`` not valid,
    naming the setting, what was expected and ``values[name]``."""
    for name, (ok, expected) in checks.items():
        if not ok:
            raise ValueError(f"Invalid {name}: expected {expected}. Received: {name}={values[name]!r}")


def atomic_write_text(path: str, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` through a temp file + rename (never half-written)."""
    patches.atomic_write_bytes(path, text.encode("utf-8"))
