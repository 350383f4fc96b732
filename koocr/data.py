"""Pickle patches -> labelled batches -> ``tf.data``.

The seed reloaded chunks of patches and called ``clear_session`` between them; here a
generator streams ``patch_size`` patch files at a time (shuffled within and across
groups, a fresh order every epoch) into one ``tf.data`` pipeline that ``fit`` consumes.

Example:
    >>> stream = PatchStream("./data", targets=jamo_targets)  # doctest: +SKIP
    >>> ds = stream.dataset(batch_size=128)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from koocr import hangul, patches

TargetFn = Callable[[np.ndarray], dict[str, np.ndarray]]
# Target key of the sample's source (1 = printed, 0 = handwritten / clova), yielded only
# when a stream is built with ``with_source=True`` (adversarial learning).
SOURCE_TARGET = "source"


def source_targets(sources: np.ndarray) -> np.ndarray:
    """Source names per sample -> int32 1 for ``printed``, 0 for handwritten sources."""
    return (np.asarray(sources) == "printed").astype(np.int32)


# The decomposition lives in koocr.hangul (no TensorFlow), so GPU tools can share it.
jamo_targets = hangul.jamo_targets


def charset_targets(charset: Sequence[str]) -> TargetFn:
    """Target function for the single-softmax head over ``charset``."""
    index = {c: i for i, c in enumerate(charset)}

    def targets(labels: np.ndarray) -> dict[str, np.ndarray]:
        try:
            return {"syllable": np.array([index[c] for c in labels], dtype=np.int32)}
        except KeyError as err:
            raise ValueError(
                f"Label {str(err.args[0])!r} is not in the model's charset ({len(charset)} syllables)"
            ) from None

    return targets


def load_arrays(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loads patches into (images uint8 (N,S,S), labels (N,), source name per sample)."""
    images, labels, sources = [], [], []
    for path in paths:
        patch = patches.load_patch(path)
        images.append(patch["image"])
        labels.append(patch["label"])
        sources.append(np.full(len(patch["label"]), patches.source_of(path)))
    if not images:
        raise ValueError("No patches to load")
    sizes: dict[int, str] = {}  # size -> its first file, named in the error
    for im, path in zip(images, paths, strict=True):
        sizes.setdefault(im.shape[1], os.fspath(path))
    if len(sizes) > 1:
        examples = ", ".join(f"{size}px: {sizes[size]}" for size in sorted(sizes))
        raise ValueError(f"Patches mix image sizes {sorted(sizes)} (e.g. {examples}); rebuild them at one size")
    return np.concatenate(images), np.concatenate(labels), np.concatenate(sources)


def check_labels(path: str, labels: np.ndarray, targets: TargetFn) -> None:
    """Raises ValueError naming ``path`` when ``targets`` cannot take its ``labels`` (a label
    outside a single-softmax charset), instead of failing later inside tf.data."""
    try:
        targets(labels)
    except ValueError as err:
        raise ValueError(f"{os.fspath(path)!r}: {err}") from None


def check_patch_labels(paths: Sequence[str], targets: TargetFn) -> None:
    """:func:`check_labels` of each patch file, loaded one at a time: which file holds the
    label a batch of them was refused for."""
    for path in paths:
        check_labels(path, patches.load_patch(path)["label"], targets)


class PatchStream:
    """Streams the patches of a folder, ``patch_size`` files held in memory at a time.

    Args:
        folder: folder of ``*.pickle`` patches.
        targets: labels -> dict of int targets per model output.
        patch_size: how many patch files are shuffled together (all of them if None).
        sources: only these sources (``printed``, ``handwritten``, ``clova``).
        seed: shuffling seed; each epoch draws a new order from it.
        image_size: the side the model expects (checked against the patches).
        with_source: add the ``"source"`` target (:func:`source_targets`) to each batch;
            every file must then be ``printed_``, ``handwritten_`` or ``clova_``.
    """

    def __init__(
        self,
        folder: str,
        targets: TargetFn,
        patch_size: int | None = 10,
        sources: Sequence[str] | None = None,
        seed: int = 0,
        image_size: int | None = None,
        with_source: bool = False,
    ):
        self.paths = patches.list_patches(folder, sources)
        if not self.paths:
            raise FileNotFoundError(f"No *.pickle patches in {os.fspath(folder)!r}")
        self.with_source = with_source
        unknown = [p for p in self.paths if patches.source_of(p) == "unknown"]
        if with_source and unknown:
            raise ValueError(
                f"Cannot tell the source of {os.path.basename(unknown[0])!r} (and "
                f"{len(unknown) - 1} more): name patches {', '.join(f'{s}_*' for s in patches.SOURCES)}"
            )
        if patch_size is not None and patch_size < 1:
            raise ValueError(f"patch_size must be >= 1 or None. Received: patch_size={patch_size}")
        self.targets = targets
        self.patch_size = len(self.paths) if patch_size is None else min(patch_size, len(self.paths))
        self.seed = seed
        self._epoch = 0
        self._cache: tuple | None = None
        # One pass over the files counts samples (for steps_per_epoch) and checks sizes.
        first = patches.load_patch(self.paths[0])
        self.image_size = int(first["image"].shape[1])
        if image_size is not None and image_size != self.image_size:
            raise ValueError(
                f"Patches in {folder!r} are {self.image_size}px but the model expects "
                f"{image_size}px. Rebuild them with crawl_data.py --image_size {image_size}."
            )
        # Labels the targets cannot take (outside a single-softmax charset) fail here, naming
        # their file, not mid-epoch inside tf.data.
        if self.patch_size == len(self.paths):
            self._cache = load_arrays(self.paths)  # everything fits: load once, reuse
            self.num_samples = len(self._cache[1])
            try:
                targets(self._cache[1])
            except ValueError:
                check_patch_labels(self.paths, targets)
        else:
            check_labels(self.paths[0], first["label"], targets)
            self.num_samples = 0
            for path in self.paths[1:]:
                patch = patches.load_patch(path)
                check_labels(path, patch["label"], targets)
                if patch["image"].shape[1] != self.image_size:  # would fail mid-epoch inside tf.data
                    raise ValueError(
                        f"Patches in {folder!r} differ in size: {os.path.basename(self.paths[0])!r} is "
                        f"{self.image_size}px, {os.path.basename(path)!r} is {patch['image'].shape[1]}px"
                    )
                self.num_samples += len(patch["label"])
            self.num_samples += len(first["label"])
        if not self.num_samples:  # the generator would loop forever without yielding
            raise ValueError(f"The patches in {os.fspath(folder)!r} hold no samples")

    def batches(self, batch_size: int, shuffle: bool = True, epoch_seed: int | None = None):
        """Yields ``(images float32 (B,S,S,1), targets)`` once over all samples."""
        rng = np.random.default_rng([self.seed, self._epoch if epoch_seed is None else epoch_seed])
        self._epoch += 1
        order = rng.permutation(len(self.paths)) if shuffle else np.arange(len(self.paths))
        for start in range(0, len(order), self.patch_size):
            group = [self.paths[i] for i in order[start : start + self.patch_size]]
            images, labels, sources = self._cache if self._cache else load_arrays(group)
            idx = rng.permutation(len(labels)) if shuffle else np.arange(len(labels))
            for b in range(0, len(idx), batch_size):
                sel = idx[b : b + batch_size]
                y = self.targets(labels[sel])
                if self.with_source:
                    y[SOURCE_TARGET] = source_targets(sources[sel])
                yield images[sel][..., None].astype(np.float32), y

    def skip_passes(self, passes: int) -> None:
        """Starts at pass ``passes`` over the data (a resumed run goes on with its order)."""
        self._epoch = max(0, int(passes))

    def steps(self, batch_size: int) -> int:
        return math.ceil(self.num_samples / batch_size)

    def dataset(self, batch_size: int, shuffle: bool = True, repeat: bool = True) -> tf.data.Dataset:
        """A ``tf.data.Dataset`` of batches (repeated for ``fit`` unless ``repeat=False``)."""
        example_targets = self.targets(np.array(["가"]))
        if self.with_source:
            example_targets[SOURCE_TARGET] = source_targets(np.array(["printed"]))
        signature = (
            tf.TensorSpec((None, self.image_size, self.image_size, 1), tf.float32),
            {k: tf.TensorSpec((None,), tf.int32) for k in example_targets},
        )

        def generate():
            while True:
                yield from self.batches(batch_size, shuffle)
                if not repeat:
                    return

        ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return ds.prefetch(tf.data.AUTOTUNE)
