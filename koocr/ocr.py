"""KoOCR: the public facade over ``koocr/`` (networks, normalisation, decoding, training).

``model.py`` at the repository root re-exports it (the seed's ``from model import KoOCR``);
an installed package spells it ``from koocr import KoOCR``.

Example:
    >>> from koocr import KoOCR
    >>> ocr = KoOCR(weights="compact48")          # a shipped model, or a folder path
    >>> ocr.predict("sample.png", n=3)            # doctest: +SKIP
    ['한', '헌', '환']
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import numbers
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from koocr import data as kdata
from koocr import decode, distribute, hangul, methods, networks, preprocess, training
from koocr import export as kexport
from koocr import segments as ksegments
from koocr import weights as kweights
from koocr.config import PENDING_METHODS, ModelConfig

_SINGLE_TYPES = (str, os.PathLike, Image.Image)
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _outside_koocr() -> int:
    """The ``stacklevel`` of the first caller outside this package, for warnings.warn in the
    caller of this function (predict(), read() and tta reach it by different depths)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


TTA_MARGIN_STEP = 0.06  # predict(tta=True): margins of the model's margin -/+ this


def _noting_named_args(init):
    """Wraps ``__init__`` to record which arguments the caller named (``self._named_args``)."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        self._named_args = frozenset(signature.bind(self, *args, **kwargs).arguments) - {"self"}
        init(self, *args, **kwargs)

    return wrapper


class KoOCR:
    """A Korean character recogniser: build, train, save, load and predict.

    Args:
        weights: a shipped model name (see :meth:`pretrained_models`) or a folder written by
            :meth:`save`; its saved config then defines the network (conflicting arguments
            only warn).
        split_components: three softmax heads (initial 19 / medial 21 / final 28) whose
            product scores any of the 11,172 syllables; False: one softmax over ``charset``.
        network_type: ``melnyk``, ``fire`` (``efficient-net``), ``afl``, ``VGG16``,
            ``mobilenet``, ``inception-resnet`` or ``compact`` (the CPU-trainable default of
            the shipped model).
        fc_link: ``flatten`` (or ``''``), ``GAP``, ``GWAP`` or ``GWOAP``.
        image_size: side of the square network input.
        charset: ``ks2350``, ``all``, a file with one syllable per line, or a list. It is the
            class list of the single head; in split mode it records what the model was trained
            on, while decoding covers all 11,172 unless ``predict(charset=...)`` restricts it.
        direct_map: DirectMap input (Zhang et al. 2017): 8 gradient-direction planes stacked
            with the ink image (9 channels), computed inside the network (``koocr.methods``).
        data_augmentation: random rotation / zoom / translation / shear layers inside the
            network, active in training only (identity in predict and in exports).
        adversarial_learning: train against a printed-vs-handwritten discriminator on the
            pooled features through gradient reversal (Zhang et al. 2018; ``train``'s
            ``adversarial_ratio``, ``koocr.adversarial``). Training-time only: the saved,
            predicting and exported network is the plain one.
        iterative_refinement: attention-based iterative refinement (Yang et al. 2017): the
            head re-reads the features ``refinement_t`` times, each time attending where the
            previous prediction points; the outputs (same names and shapes) are the last step's.
        refinement_t: steps of refinement, an integer >= 1 (1: the plain head).
        margin: glyph margin of the shared normalisation.
        placement: the seed's fixed ``(x_offset, y_offset, char_size)`` instead of centring.
        network_args: extra builder arguments (e.g. ``{"width": 0.5}``).
        method_args: knobs of the methods (``koocr.methods.METHOD_ARGS``), e.g.
            ``{"direct_map_trainable": True, "augmentation": {"rotation": 10, "shear": 0}}``.

    Example:
        >>> KoOCR(network_type="compact", image_size=48, direct_map=True,
        ...       data_augmentation=True, iterative_refinement=True, refinement_t=3)  # doctest: +SKIP
    """

    @_noting_named_args
    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        split_components: bool = True,
        network_type: str = "melnyk",
        fc_link: str = "GWAP",
        image_size: int = 96,
        charset: str | Sequence[str] = "ks2350",
        direct_map: bool = False,
        data_augmentation: bool = False,
        adversarial_learning: bool = False,
        iterative_refinement: bool = False,
        refinement_t: int = 4,
        margin: float = 0.1,
        placement: Sequence[int] | None = None,
        network_args: dict | None = None,
        method_args: dict | None = None,
    ):
        given = {k: v for k, v in locals().items() if k not in ("self", "weights", "__class__")}
        named = self._named_args  # set by _noting_named_args
        given["network_args"] = dict(network_args or {})
        given["method_args"] = dict(method_args or {})
        given["placement"] = list(placement) if placement is not None else None
        self.weights_path = None
        meta: dict = {}
        if weights is not None:
            self.weights_path = kweights.resolve(weights)
            self.config, meta = kweights.read_config(self.weights_path)
            for key, value in given.items():
                saved = getattr(self.config, key)
                # Every argument the caller named, even one equal to its default: with
                # compact48 weights, network_type="melnyk", image_size=96 is ignored too.
                if key in named and value != saved:
                    warnings.warn(
                        f"{key}={value!r} ignored: the weights at {self.weights_path!r} were "
                        f"saved with {key}={saved!r}",
                        stacklevel=2,
                    )
        else:
            if not isinstance(charset, str) or charset.lower() not in hangul.CHARSET_NAMES:
                # a list or a file: config.json keeps the syllables, so the weights folder
                # loads anywhere and an edited file cannot renumber the classes
                given["charset"] = hangul.load_charset(charset)
            self.config = ModelConfig(**given)
        for method in PENDING_METHODS:
            if getattr(self.config, method):
                raise NotImplementedError(
                    f"{method}=True is not implemented yet (see the training-methods issue); "
                    f"use {method}=False."
                )
        self.charset = hangul.load_charset(self.config.charset)
        self.model = self._build()
        self.segments = None  # koocr.segments.SegmentClassifier used by read(), if shipped
        self.litert_file = None  # a shipped LiteRT copy of these weights: backend="auto" runs it
        self.litert_quantize = None  # its quantization: None (float32), "dynamic" or "int8"
        self._loaded = None  # the fingerprint of the loaded weights: the copy and classifier fit them
        self._litert_content = None  # its bytes, read once at load: it runs from these
        if self.weights_path is not None:
            kweights.load_weights(self.model, self.weights_path, meta.get("weights_sha256"))
            self.segments = self._load_segments(meta.get("weights_sha256", ""))
            shipped = kexport.shipped_litert(self.weights_path, meta.get("weights_sha256", ""))
            if shipped is not None:
                self.litert_file, self.litert_quantize, self._litert_content = shipped
            if self.segments is not None or self.litert_file is not None:
                self._loaded = self._weights_fingerprint()
        self._watch_weights()
        # The random initial weights, until they change: predictions from them are noise.
        # A folder saved from such a network says so (save() marks it), and warns the same.
        extra = meta.get("extra")
        marked = isinstance(extra, dict) and extra.get("untrained") is True
        self._untrained = self._weights_fingerprint() if self.weights_path is None or marked else None
        self._forward = None
        self._forward_features = None

    def _load_segments(self, weights_sha256: str):
        try:
            clf = ksegments.SegmentClassifier.load(self.weights_path)
        except ValueError as err:  # predict() does not need it: load the weights anyway
            warnings.warn(f"{err}; read() runs without it (refit it with tools/fit_segments.py)", stacklevel=3)
            return None
        if clf is not None and clf.weights_sha256 != weights_sha256:
            warnings.warn(
                f"Ignoring {ksegments.FILE} in {self.weights_path!r}: it was fitted on other "
                "weights (refit it with tools/fit_segments.py)",
                stacklevel=3,
            )
            return None
        return clf

    # ------------------------------------------------------------------ building
    @property
    def heads(self) -> dict[str, int]:
        if self.config.split_components:
            return dict(hangul.COMPONENT_SIZES)
        return {"syllable": len(self.charset)}

    def _build(self) -> keras.Model:
        return networks.build_network(
            self.config.network_type,
            self.config.image_size,
            self.heads,
            fc_link=self.config.fc_link,
            methods=methods.from_config(self.config),
            **self.config.network_args,
        )

    @staticmethod
    def pretrained_models() -> dict[str, str]:
        """Shipped models: name -> folder."""
        return kweights.list_pretrained()

    def save(self, path: str | os.PathLike, extra: dict | None = None, litert: bool | str | None = None) -> str:
        """Writes ``config.json`` + ``model.weights.h5`` into ``path`` (atomically).

        A segment classifier (``self.segments``) is saved beside them, re-tied to the
        checksum of the weights just written. ``litert=True`` also writes a float LiteRT
        copy (``model.tflite``, with the pooled features as an extra output), which
        ``backend="auto"`` then runs: on the 2-core dev machine ~0.5 ms a single image
        against ~3 ms for the compiled Keras graph, and ~1.5x its batched throughput.
        ``litert="int8"`` (or ``"dynamic"``) writes a quantized copy instead: about twice
        as fast again; check its accuracy (``evaluate.py``) before shipping it.
        ``litert=None`` (default) keeps the LiteRT copy these weights were loaded with
        (see :attr:`litert_file`) if they are still the weights it was made from;
        ``litert=False`` writes none.
        """
        quantize = None if litert is None or isinstance(litert, bool) else litert
        if quantize not in kexport.QUANTIZE:
            raise ValueError(f"litert must be None, a bool, 'dynamic' or 'int8'. Received: litert={litert!r}")
        fingerprint = functools.cache(self._weights_fingerprint)  # hashes every weight: once per save
        tied = [name for name, v in (("LiteRT copy", self.litert_file), ("segment classifier", self.segments)) if v is not None]
        if tied and self._loaded is not None and fingerprint() != self._loaded:  # assigned by hand
            warnings.warn(
                f"Not saving the {' and '.join(tied)} of the loaded weights to {os.fspath(path)!r}: the weights "
                "changed since they were loaded (save(litert=True / 'int8') makes a copy of the new ones, "
                "tools/fit_segments.py refits the classifier)",
                stacklevel=2,
            )
            self.weights_changed()
        carried = self._litert_content if litert is None and self.litert_file is not None else None
        if self._untrained is not None and fingerprint() == self._untrained:
            extra = {**(extra or {}), "untrained": True}  # loading it warns as this network does
        path = kweights.save(self.model, self.config, path, extra)
        _, meta = kweights.read_config(path)
        if self.segments is not None:
            self.segments = dataclasses.replace(self.segments, weights_sha256=meta["weights_sha256"])
            self.segments.save(path)
        if litert:
            kexport.ship_litert(self.model, self.config, path, meta["weights_sha256"], quantize)
        elif carried is not None:
            kexport.write_litert(path, carried, meta["weights_sha256"], self.litert_quantize)
        return path

    def _warn_if_untrained(self) -> None:
        if self._weights_fingerprint() != self._untrained:  # trained or set since: stop checking
            self._untrained = None
            return
        warnings.warn(
            "This KoOCR network has random weights (no weights= given, not trained): its answers "
            "are noise. For the shipped model use KoOCR(weights='compact48'); "
            f"KoOCR.pretrained_models() lists them: {sorted(self.pretrained_models())}",
            stacklevel=_outside_koocr(),
        )

    def _weights_fingerprint(self) -> str:
        """A checksum of the weight values (the file's checksum also covers layer names,
        which Keras numbers per process)."""
        digest = hashlib.sha256()
        for w in self.model.get_weights():
            digest.update(np.ascontiguousarray(w).tobytes())
        return digest.hexdigest()

    # ------------------------------------------------------------------ inference
    @property
    def _placement(self):
        p = self.config.placement
        return preprocess.Placement(*p) if p else None

    def preprocess(self, image, margin: float | None = None) -> tuple[np.ndarray, bool]:
        """Any supported input -> (uint8 (N, S, S) normalised batch, is_single).

        ``margin`` overrides the model's margin (test-time augmentation places each glyph
        with a few margins, see :meth:`tta_margins`).
        """
        size, place = self.config.image_size, self._placement
        if margin is None:
            margin = self.config.margin
        elif isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not 0 <= margin < 0.5:
            raise ValueError(f"margin must be a number in [0, 0.5) (a fraction of the side). Received: margin={margin!r}")
        margin = float(margin)
        if isinstance(image, _SINGLE_TYPES):
            return preprocess.normalize(image, size, margin, place)[None], True
        if isinstance(image, (list, tuple)):
            if not image:
                raise ValueError("Received an empty list of images")
            items = []
            for i, item in enumerate(image):
                if not isinstance(item, _SINGLE_TYPES) and np.asarray(item).ndim not in (2, 3):
                    raise ValueError(f"List item {i} is not one image. Received shape {np.shape(item)}")
                items.append(item)
            return preprocess.normalize_batch(items, size, margin, place), False
        arr = np.asarray(image)
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (1, 2, 3, 4) and arr.shape[0] > 4):
            return preprocess.normalize(arr, size, margin, place)[None], True
        if arr.ndim in (3, 4):
            if arr.shape[0] == 0:
                raise ValueError(f"Received an empty batch of shape {arr.shape}")
            if arr.ndim == 4 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            return preprocess.normalize_batch(arr if arr.ndim == 3 else list(arr), size, margin, place), False
        received = f"an array of shape {arr.shape}" if arr.ndim else f"{type(image).__name__} {image!r:.40}"
        raise ValueError(
            f"Expected a path, PIL image, array (H,W) / (H,W,C) / (N,H,W) / (N,H,W,C) or a list. Received {received}"
        )

    def probabilities(
        self, normalised: np.ndarray, batch_size: int = 512, backend: str = "auto", features: bool = False
    ) -> list[np.ndarray]:
        """Runs the network on normalised uint8 (N, S, S) glyphs; one array per head.

        ``features=True`` appends the pooled features (the ``"pool"`` layer, (N, C)) from
        the same forward pass. ``backend``: ``"auto"`` (default) runs the shipped LiteRT
        copy if there is one (see :meth:`save`), else ``"keras"`` (the compiled graph);
        ``"litert"`` runs that shipped copy too (it may be int8), and without one a float
        export of the current weights (made once, in a temp folder) with the LiteRT
        interpreter; ``"onnx"`` runs such a float export with ONNX Runtime (no features).
        """
        if self._untrained is not None:
            self._warn_if_untrained()
        size = self.config.image_size
        shape = np.shape(normalised)
        if len(shape) != 3 or shape[1:] != (size, size):
            raise ValueError(
                f"probabilities() takes normalised glyphs of shape (N, {size}, {size}) (see preprocess()). "
                f"Received shape {shape}"
            )
        if features:
            kexport.check_features(self.model, self.config)
        if not shape[0]:  # one empty array per output, as for a batch
            empty = [np.zeros((0, n), np.float32) for n in self.heads.values()]
            if features:
                empty.append(np.zeros((0, self.model.get_layer(networks.POOL_LAYER).output.shape[-1]), np.float32))
            return empty
        backend = self.resolve_backend(backend, features)
        if backend != "keras":
            return self._run_export(normalised, batch_size, backend, features)
        size = self.config.image_size
        spec = tf.TensorSpec((None, size, size, 1), tf.float32)
        if features and self._forward_features is None:
            pooled = self.model.get_layer(networks.POOL_LAYER).output
            heads = self.model.outputs if isinstance(self.model.outputs, list) else [self.model.outputs]
            both = keras.Model(self.model.inputs, [*heads, pooled])
            self._forward_features = tf.function(lambda x: both(x, training=False), input_signature=[spec])
        if not features and self._forward is None:
            self._forward = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        forward = self._forward_features if features else self._forward
        outputs: list[list[np.ndarray]] = []
        for b in range(0, len(normalised), batch_size):
            x = tf.constant(normalised[b : b + batch_size, :, :, None], dtype=tf.float32)
            out = forward(x)
            out = out if isinstance(out, (list, tuple)) else [out]
            outputs.append([o.numpy() for o in out])
        return [np.concatenate(parts) for parts in zip(*outputs, strict=True)]

    @property
    def litert_copy(self) -> str | None:
        """What the shipped LiteRT copy is, for reports (``"int8 copy"``), or None without one."""
        return None if self.litert_file is None else f"{self.litert_quantize or 'float32'} copy"

    def resolve_backend(self, backend: str = "auto", features: bool = False) -> str:
        """What ``backend`` runs here: ``"auto"`` is ``"litert"`` with a shipped LiteRT
        copy (that has pooled features, if ``features``), else ``"keras"``."""
        if backend == "auto":
            if self.litert_file is None:
                return "keras"
            # A LiteRT copy shipped without the features output cannot serve read().
            return "litert" if not features or self._runner("litert").n_outputs > len(self.heads) else "keras"
        if backend not in kexport.BACKENDS:
            raise ValueError(f"backend must be 'auto' or one of {kexport.BACKENDS}. Received: backend={backend!r}")
        return backend

    def _runner(self, backend: str):
        """The LiteRT / ONNX runner of these weights: the shipped copy, or an export made once."""
        runners = self.__dict__.setdefault("_runners", {})  # dropped by train()
        if backend not in runners:
            if backend == "litert" and self.litert_file is not None:
                runners[backend] = (kexport.load_runner(self.litert_file, content=self._litert_content), None)
            else:
                folder = tempfile.TemporaryDirectory(prefix=f"koocr-{backend}-")
                # read() takes the pooled features from LiteRT; "flatten" networks have none.
                pooled = backend == "litert" and kexport.has_features(self.model)
                file = kexport.export(self.model, self.config, folder.name, backend, features=pooled)
                runners[backend] = (kexport.load_runner(file), folder)
        return runners[backend][0]

    def _shipped_runner(self):
        entry = self.__dict__.get("_runners", {}).get("litert")
        return entry[0] if entry is not None and entry[1] is None else None

    def _float_heads(self, pooled: np.ndarray) -> list[np.ndarray]:
        """Each head's softmax in float64 from the pooled features of an int8 LiteRT copy.

        An int8 softmax output has a step of 1/256, which ties the unlikely candidates and
        blurs top-5 (measured on held-out handwriting: top-5 93.2 % against 93.7 % here
        and in Keras); without refinement each head is one Dense of the features.
        """
        weights = self.__dict__.get("_head_weights")  # dropped by train()
        if weights is None:
            weights = self.__dict__["_head_weights"] = [self.model.get_layer(h).get_weights() for h in self.heads]
        out = []
        for kernel, bias in weights:
            z = pooled.astype(np.float64) @ kernel + bias
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out.append((z / z.sum(axis=1, keepdims=True)).astype(np.float32))
        return out

    def _run_export(self, normalised: np.ndarray, batch_size: int, backend: str, features: bool) -> list[np.ndarray]:
        if features and backend == "onnx":
            raise ValueError("features=True needs backend='keras' or 'litert'. Received: backend='onnx'")
        run = self._runner(backend)
        outputs = [
            run(normalised[b : b + batch_size, :, :, None].astype(np.float32))
            for b in range(0, len(normalised), batch_size)
        ]
        outputs = [np.concatenate(parts) for parts in zip(*outputs, strict=True)]
        n_heads = len(self.heads)
        int8_copy = backend == "litert" and self.litert_quantize == "int8" and run is self._shipped_runner()
        if int8_copy and len(outputs) > n_heads and not self.config.iterative_refinement:
            outputs[:n_heads] = self._float_heads(outputs[-1])
        if features and len(outputs) == n_heads:
            raise ValueError(f"{self.litert_file!r} has no features output; re-ship it with save(litert=True)")
        return outputs if features else outputs[:n_heads]

    def export(
        self,
        path: str | os.PathLike,
        format: str = "tf_saved_model",
        quantize: str | None = None,
        calibration: np.ndarray | None = None,
    ) -> str:
        """Exports the network for deployment, with ``config.json`` beside it.

        Args:
            path: output folder.
            format: ``tf_saved_model``, ``litert`` (``.tflite``) or ``onnx`` (needs
                ``pip install tf2onnx onnxruntime``).
            quantize: None, ``dynamic`` (int8 weights) or ``int8`` (int8 activations too,
                calibrated on glyphs rendered from the shipped fonts); LiteRT / ONNX only.
            calibration: normalised uint8 (N, S, S) glyphs for ``int8`` calibration, e.g.
                ``preprocess(images)[0]`` of samples like the ones the model will read.

        Returns:
            The SavedModel folder or the ``.tflite`` / ``.onnx`` file. Its input is
            :meth:`preprocess`'s output as float32 ``(N, S, S, 1)``; its outputs the heads.

        Example:
            >>> ocr.export("exports/int8", format="litert", quantize="int8")  # doctest: +SKIP
            'exports/int8/model.tflite'
        """
        return kexport.export(self.model, self.config, path, format, quantize, calibration)

    def tta_margins(self) -> tuple[float, ...]:
        """The margins ``predict(tta=True)`` places each glyph with: the model's, and one
        :data:`TTA_MARGIN_STEP` tighter and looser (glyph size +-~10 %)."""
        if self.config.placement:
            raise ValueError("tta=True varies the margin; this model uses a fixed placement (config.placement)")
        m = self.config.margin
        return (max(0.0, m - TTA_MARGIN_STEP), m, m + TTA_MARGIN_STEP)

    def tta_probabilities(self, views: Sequence[np.ndarray], batch_size: int = 512, backend: str = "auto"):
        """Mean per-head probabilities over normalised views of the same images."""
        runs = [self.probabilities(v, batch_size, backend) for v in views]
        if len(runs) == 1:
            return runs[0]
        return [np.mean(heads, axis=0) for heads in zip(*runs, strict=True)]

    def predict(
        self,
        image,
        n: int = 5,
        return_probs: bool = False,
        charset: str | Sequence[str] | None = None,
        batch_size: int = 512,
        backend: str = "auto",
        tta: bool = False,
    ):
        """Top-n Hangul syllables for one image or a batch.

        Args:
            image: a path, PIL image, array (H,W) or (H,W,C), a batch (N,H,W[,C]) or a list of
                these; any size from 2 x 2 pixels, uint8 or float, L/RGB/RGBA, either polarity.
            n: how many candidates per image, best first.
            return_probs: return ``(syllable, probability)`` pairs instead of syllables.
            charset: restrict decoding (split mode), e.g. ``"ks2350"``; default: all 11,172.
            batch_size: images per forward pass.
            backend: ``auto`` (default): the shipped LiteRT copy (``model.tflite``, see
                :meth:`save`) if there is one, else the compiled Keras network; ``keras``;
                ``litert``: the shipped copy, else a float export; ``onnx``: a float
                export (see :meth:`probabilities`).
            tta: test-time augmentation: average the probabilities of the glyph placed with
                three margins (:meth:`tta_margins`); ~3x the time, a little more accurate
                on unseen fonts (README).

        Returns:
            A list of ``n`` syllables for one image (fewer when ``charset`` holds fewer), or a
            list of such lists for a batch.

        Example:
            >>> ocr.predict(np.asarray(Image.open("han.png")), n=2, return_probs=True)  # doctest: +SKIP
            [('한', 0.98), ('할', 0.01)]
        """
        for name, value in (("n", n), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        backend = self.resolve_backend(backend)
        if tta:
            views = [self.preprocess(image, m) for m in self.tta_margins()]
            single = views[0][1]
            probs = self.tta_probabilities([v[0] for v in views], batch_size, backend)
        else:
            batch, single = self.preprocess(image)
            probs = self.probabilities(batch, batch_size, backend)
        if self.config.split_components:
            restrict = hangul.load_charset(charset) if charset is not None else None
            ranked = decode.top_n_split(probs, n, restrict)
        else:
            if charset is not None:
                raise ValueError("charset= restricts split-component decoding only")
            ranked = decode.top_n_single(probs[0], self.charset, n)
        if not return_probs:
            ranked = [[s for s, _ in row] for row in ranked]
        return ranked[0] if single else ranked

    # ------------------------------------------------------------------ training
    def train(
        self, epochs: int = 10, lr: float = 0.001, callbacks: list | None = None, **kwargs
    ) -> keras.callbacks.History:
        """Trains on pickle patches; see :class:`koocr.training.TrainConfig` for all options.

        Each epoch saves weights + config to ``<log_dir>/checkpoint`` (and the best one by
        validation syllable accuracy to ``<log_dir>/best``); an interrupted run started again
        with the same ``log_dir`` resumes from its last finished epoch.

        ``strategy="mirrored"`` / ``"multiworker"`` and ``mixed_precision=True`` train a copy
        of the network rebuilt inside the strategy's scope and dtype policy; its weights are
        copied back into :attr:`model` (float32) when training ends. Under ``multiworker``
        every worker must start from the same weights (same ``seed`` before building, or
        the same ``weights=``); training refuses to start otherwise.

        Training methods (off by default): ``hybrid_loss=0.1`` adds the similar-class margin
        loss (:mod:`koocr.hybrid`); ``drop_weight=0.5`` prunes half the conv/dense weights
        while training (:mod:`koocr.pruning`; the report lands in the checkpoints'
        ``extra``); ``time_budget_s=600`` trains for ten minutes with a time-based schedule
        (:mod:`koocr.timebudget`; ``epochs`` becomes an upper bound). A model built with
        ``adversarial_learning=True`` trains against a printed-vs-handwritten discriminator
        with weight ``adversarial_ratio`` (:mod:`koocr.adversarial`; it needs printed and
        handwritten/clova patches). Adversarial learning, drop weight and the time budget
        need ``strategy="none"``.

        Example:
            >>> KoOCR(network_type="compact", image_size=48).train(epochs=2, data_path="./data")  # doctest: +SKIP
            >>> KoOCR(network_type="compact", image_size=48).train(  # doctest: +SKIP
            ...     epochs=100, time_budget_s=600, hybrid_loss=0.1, drop_weight=0.5)
        """
        names = {f.name for f in dataclasses.fields(training.TrainConfig)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(f"Unknown train() arguments {unknown}; expected some of {sorted(names)}")
        cfg = training.TrainConfig(epochs=epochs, lr=lr, **kwargs)
        adversarial = bool(self.config.adversarial_learning)
        training.check_methods(cfg, adversarial)
        if self.config.split_components:
            targets = kdata.jamo_targets
        else:
            targets = kdata.charset_targets(self.charset)
        before = self._weights_fingerprint()
        kept = {k: self.__dict__[k] for k in self._WEIGHTS_STATE if k in self.__dict__}
        self.weights_changed()
        try:
            return self._fit(cfg, targets, callbacks, adversarial)
        except BaseException:
            if self._weights_fingerprint() == before:  # failed before a step: keep them
                self.__dict__.update(kept)
            raise

    # What belongs to the current weights (train() drops it once they change).
    _WEIGHTS_STATE = ("segments", "litert_file", "litert_quantize", "_runners", "_head_weights", "_loaded")

    def weights_changed(self) -> None:
        """Drops what belonged to the old weights: the LiteRT copy, exports made for the
        ``litert`` / ``onnx`` backends and the segment classifier of :meth:`read`.

        ``train()``, ``self.model.set_weights()`` and ``self.model.load_weights()`` call it.
        Call it yourself after assigning to single variables or layers by hand: checking
        the weights on every call would cost more than a prediction.
        """
        self._forward = self._forward_features = None
        self.segments = None  # fitted on the old features: refit with tools/fit_segments.py
        self.litert_file = self.litert_quantize = None  # a copy of the old weights
        self.__dict__.pop("_runners", None)  # exports of the old weights
        self.__dict__.pop("_head_weights", None)
        self._loaded = None  # a classifier attached from now on is taken to fit the new weights

    def _watch_weights(self) -> None:
        """Makes ``self.model.set_weights`` / ``load_weights`` call :meth:`weights_changed`."""
        model = self.model
        for name in ("set_weights", "load_weights"):
            method = getattr(model, name)

            def changing(*args, _method=method, **kwargs):
                result = _method(*args, **kwargs)
                self.weights_changed()
                return result

            object.__setattr__(model, name, changing)

    def _fit(self, cfg, targets, callbacks, adversarial):
        run = lambda: training.fit(  # noqa: E731
            self.model,
            cfg,
            targets,
            save_fn=lambda path, info: self.save(path, extra=info),
            image_size=self.config.image_size,
            extra_callbacks=callbacks,
            adversarial=adversarial,
        )
        if cfg.strategy == "none" and not cfg.mixed_precision:
            return run()
        # Variables must be created in the strategy's scope (and the mixed policy): train a
        # rebuilt copy, then copy its weights back into the plain float32 model.
        original = self.model
        strategy = distribute.get_strategy(cfg.strategy)
        self.model = distribute.build_model(self._build, original, strategy, cfg.mixed_precision)
        try:
            return run()
        finally:
            original.set_weights(self.model.get_weights())
            self.model, self._forward, self._forward_features = original, None, None

    # ------------------------------------------------------------------ lines
    def read(self, image, charset: str | Sequence[str] | None = None, **kwargs):
        """Reads a text line, or a block of lines, into text with per-character boxes.

        Over-segments the line, scores every candidate character with this model in one
        forward pass and picks the best sequence by dynamic programming (see
        :mod:`koocr.lines`). Non-Hangul characters come out as ``koocr.lines.UNKNOWN``
        (``'?'``); word spaces come from gaps. When the weights folder ships a segment
        classifier (``segments.npz``, see :mod:`koocr.segments`), it tells whole syllables
        from symbols and from parts of characters, and its symbol head names each symbol
        (digit, Latin letter, mark other than '?') where p(one symbol) * p(this one or a
        look-alike: '(' or 'l') is at least ``name_symbols`` (default 0.5; ``name_symbols=0``: every one ``'?'``);
        ``use_segments=False`` turns it off.
        A syllable bigram language model (:mod:`koocr.language`) then chooses among each
        crop's top-5 syllables in context; ``lm_weight=0`` turns it off.

        Args:
            image: a path, PIL image or array of one line or several; any size from 2 x 2
                pixels (smaller is a ValueError), either polarity.
            charset: restrict syllables, e.g. ``"ks2350"`` (default: all 11,172).
            **kwargs: ``use_segments`` or :class:`koocr.lines.ReadConfig` fields, e.g.
                ``char_bonus=1.5`` or ``lm_weight=0``.

        Returns:
            A :class:`koocr.lines.ReadResult`: ``.text`` (lines joined by ``\\n``) and
            ``.chars``, a list of ``CharBox(text, box=(x0, y0, x1, y1), confidence, line)``.

        Example:
            >>> ocr.read("line.png").text  # doctest: +SKIP
            '오늘은 날씨가 좋다'
        """
        from koocr import lines

        return lines.read(self, image, charset=charset, **kwargs)
