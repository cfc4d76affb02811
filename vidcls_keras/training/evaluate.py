"""Predictions -> metrics and plots, shared by training, prediction and zero-shot evaluation.

    predict_logits        a batched tf.data split + model -> logits (N, C) and one-hot labels (N, C)
    classification_report logits + labels                 -> loss, accuracy, f1-micro/macro,
                                                             per-class report, confusion matrix
    multilabel_classification_report                      -> (multi-label) binary cross-entropy,
                          logits + multi-hot labels          YouTube-8M's GAP@20, hit@1, PERR, mAP
    plot_history          keras History dict              -> training-curve PNG
    plot_confusion_matrix confusion matrix                -> PNG
    ValidationMetrics     a Keras callback: validation scores in every epoch's logs

Metrics are scikit-learn's. For single-label classification, f1-micro (the original project's
metric) equals accuracy: every wrong prediction is one false positive and one false negative. Both
are reported, with f1-macro, which weighs the four classes equally.

Plots use matplotlib's object API on a `Figure` with the Agg canvas: no pyplot global state, no
display needed.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn import metrics as sklearn_metrics

from vidcls_keras.training import multilabel_metrics

# The multi-label metrics, in metrics.json, the epoch logs (val_<name>) and the experiments table.
MULTILABEL_METRICS = ("gap", "hit_at_one", "perr", "mean_ap")


def _pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """Pads axis 0 of `array` with zeros (False for bool) up to `rows`."""
    padding = [(0, rows - array.shape[0])] + [(0, 0)] * (array.ndim - 1)
    return np.pad(array, padding)


def predict_logits(
    model: keras.Model, dataset: tf.data.Dataset, *, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Runs `model` over a batched `(inputs, one_hot_labels)` dataset, in order.

    Every batch is zero-padded to `batch_size` rows before the model sees it, and the padded rows'
    outputs are dropped. This keeps one input shape (no recompilation for a short last batch) and
    lets `keras.distribution.DataParallel` split every batch evenly across its devices (a short
    batch of 3 cannot be split over 2 devices). Padded rows never mix with real ones: no model here
    has an operation across the batch at inference.

    Args:
        model: takes the dataset's inputs dict and returns logits `(B, C)`.
        dataset: yields `(inputs, one_hot_labels)` with batch dimension `<= batch_size`, e.g.
            `data.make_batches(..., training=False)`. It is read once (twice when its cardinality
            is unknown: once to count the batches).
        batch_size: rows every batch is padded to; a multiple of the number of devices when a
            `DataParallel` distribution is active.

    Returns:
        `(logits, labels)`: float32 `(N, C)` model outputs and the dataset's float32 `(N, C)`
        labels, `N` the number of examples in `dataset`.

    Raises:
        ValueError: when a batch has more than `batch_size` rows, or the dataset is empty.
    """
    labels: list[np.ndarray] = []

    def padded_batches() -> Iterator[tuple[Any]]:
        for inputs, one_hot in dataset.as_numpy_iterator():
            if one_hot.shape[0] > batch_size:
                raise ValueError(
                    f"predict_logits: a batch has {one_hot.shape[0]} rows, more than "
                    f"batch_size={batch_size}; pass the batch size the dataset was batched with."
                )
            labels.append(one_hot)
            yield (keras.tree.map_structure(lambda array: _pad_rows(array, batch_size), inputs),)

    num_batches = int(dataset.cardinality())
    if num_batches == tf.data.INFINITE_CARDINALITY:
        raise ValueError("predict_logits: the dataset is infinite (.repeat()?); pass one epoch.")
    if num_batches == tf.data.UNKNOWN_CARDINALITY:
        num_batches = int(dataset.reduce(0, lambda count, _: count + 1))
    # `steps` tells Keras the generator's length, so it does not warn when the generator ends.
    outputs = model.predict(padded_batches(), steps=num_batches, verbose=0) if num_batches else []
    if not labels:
        raise ValueError("predict_logits: the dataset yielded no batch; is the split empty?")
    outputs = np.asarray(outputs).reshape(len(labels), batch_size, -1)
    logits = np.concatenate(
        [batch[: len(one_hot)] for batch, one_hot in zip(outputs, labels, strict=True)]
    )
    return logits.astype(np.float32), np.concatenate(labels).astype(np.float32)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean soft-target categorical cross-entropy, the training loss.

    Args:
        logits: float `(N, C)`.
        labels: float `(N, C)`, rows summing to 1 (one-hot or mixup-soft).

    Returns:
        The mean over the N rows, in nats.
    """
    losses = keras.losses.categorical_crossentropy(labels, logits, from_logits=True)
    return float(np.mean(keras.ops.convert_to_numpy(losses)))


# Top-5 accuracy is reported from this many classes on (below it, it is 1.0 or near it).
TOP_K_MIN_CLASSES = 5


def classification_report(
    logits: np.ndarray, labels: np.ndarray, label_names: Sequence[str]
) -> dict[str, Any]:
    """Loss and scikit-learn classification metrics of argmax predictions.

    Args:
        logits: float `(N, C)` model outputs.
        labels: float `(N, C)` one-hot labels.
        label_names: the C class names, in label order.

    Returns:
        A JSON-ready dict: `num_examples`, `loss` (mean cross-entropy), `accuracy` (top-1),
        `top5_accuracy` (the true class among the 5 largest logits; only with >= 5 classes, as
        the Hugging Face video-classification guide reports it), `f1_micro`,
        `f1_macro`, `per_class` (scikit-learn's `classification_report` dict: precision, recall,
        f1-score and support per class name, plus averages) and `confusion_matrix` (C x C list,
        rows = true class, columns = predicted class, in `label_names` order).

    Raises:
        ValueError: when the shapes disagree with each other or with `label_names`.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape != labels.shape or logits.shape[1] != len(label_names):
        raise ValueError(
            f"classification_report: expected logits and labels of shape (N, {len(label_names)}) "
            f"for label_names={list(label_names)}; got {logits.shape} and {labels.shape}."
        )
    true = labels.argmax(axis=1)
    predicted = logits.argmax(axis=1)
    classes = list(range(len(label_names)))
    top5 = {}
    if len(classes) >= TOP_K_MIN_CLASSES:
        top5["top5_accuracy"] = float(
            sklearn_metrics.top_k_accuracy_score(true, logits, k=5, labels=classes)
        )
    return {
        "num_examples": int(len(true)),
        "loss": cross_entropy(logits, labels),
        "accuracy": float(sklearn_metrics.accuracy_score(true, predicted)),
        **top5,
        "f1_micro": float(sklearn_metrics.f1_score(true, predicted, average="micro")),
        "f1_macro": float(
            sklearn_metrics.f1_score(
                true, predicted, labels=classes, average="macro", zero_division=0
            )
        ),
        "per_class": sklearn_metrics.classification_report(
            true,
            predicted,
            labels=classes,
            target_names=list(label_names),
            output_dict=True,
            zero_division=0,
        ),
        "confusion_matrix": sklearn_metrics.confusion_matrix(true, predicted, labels=classes)
        .astype(int)
        .tolist(),
    }


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Elementwise sigmoid, in float64 then cast to float32 (no overflow for any logit)."""
    logits = np.asarray(logits, dtype=np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)


def multilabel_classification_report(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Loss and YouTube-8M's official metrics of multi-label predictions.

    The metrics (`training.multilabel_metrics`, the starter's `eval_util.py` definitions) rank
    the sigmoid probabilities, as the starter's models output them.

    Args:
        logits: float `(N, C)` model outputs (one sigmoid per class).
        labels: float `(N, C)` multi-hot labels (0/1; a video may have none).

    Returns:
        A JSON-ready dict: `num_examples`, `loss` (binary cross-entropy from logits, the mean
        over videos and classes, as training reports it), `gap` (GAP@20), `hit_at_one`, `perr`,
        `mean_ap` (mAP over the top 20 per video, over classes with a positive), and
        `num_labels` (positive labels in all).

    Raises:
        ValueError: when the shapes disagree.
    """
    logits = np.asarray(logits, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float32)
    if logits.ndim != 2 or logits.shape != labels.shape:
        raise ValueError(
            f"multilabel_classification_report: expected logits and labels of the same shape "
            f"(N, C); got {logits.shape} and {labels.shape}."
        )
    losses = keras.losses.binary_crossentropy(labels, logits, from_logits=True)
    return {
        "num_examples": int(len(labels)),
        "loss": float(np.mean(keras.ops.convert_to_numpy(losses))),
        **multilabel_metrics.multilabel_report(sigmoid(logits), labels),
        "num_labels": int(labels.sum()),
    }


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_history(
    history: Mapping[str, Sequence[float]],
    path: str | pathlib.Path,
    *,
    best_epoch: int | None = None,
    title: str = "",
) -> pathlib.Path:
    """Draws training curves, one panel per metric, training and validation side by side.

    Args:
        history: metric name -> one value per epoch, as in `keras.callbacks.History.history`;
            `val_<name>` is drawn in the `<name>` panel. Non-finite values are skipped.
        path: the PNG to write.
        best_epoch: 0-based epoch to mark (the one model selection kept), or None.
        title: figure title.

    Returns:
        `path`, as a `pathlib.Path`.
    """
    panels: dict[str, list[str]] = {}
    for name in history:
        panels.setdefault(name.removeprefix("val_"), []).append(name)
    figure = _new_figure(4.0 * max(len(panels), 1), 3.2)
    axes = figure.subplots(1, max(len(panels), 1), squeeze=False)[0]
    for axis, (panel, names) in zip(axes, sorted(panels.items()), strict=True):
        for name in sorted(names):
            values = np.asarray(history[name], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            validation = name.startswith("val_")
            axis.plot(
                epochs,
                values,
                marker="o",
                markersize=3,
                color="C1" if validation else "C0",  # the same colours in every panel
                label="validation" if validation else "train",
            )
        if best_epoch is not None:
            axis.axvline(best_epoch + 1, color="gray", linestyle="--", linewidth=1, label="kept")
        axis.set_title(panel)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    path = pathlib.Path(path)
    figure.savefig(path, dpi=100)
    return path


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]] | np.ndarray,
    label_names: Sequence[str],
    path: str | pathlib.Path,
    *,
    title: str = "",
) -> pathlib.Path:
    """Draws a confusion matrix with counts in the cells.

    Args:
        matrix: `(C, C)` counts, rows = true class, columns = predicted class.
        label_names: the C class names.
        path: the PNG to write.
        title: axes title.

    Returns:
        `path`, as a `pathlib.Path`.
    """
    matrix = np.asarray(matrix)
    size = 1.0 + 0.9 * len(label_names)
    figure = _new_figure(size + 1.5, size + 0.5)
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axis, shrink=0.8)
    ticks = np.arange(len(label_names))
    axis.set_xticks(ticks, labels=label_names, rotation=45, ha="right")
    axis.set_yticks(ticks, labels=label_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=color)
    if title:
        axis.set_title(title)
    path = pathlib.Path(path)
    figure.savefig(path, dpi=100)
    return path


class ValidationMetrics(keras.callbacks.Callback):
    """Evaluates a split at the end of every epoch and adds `val_*` entries to the epoch logs.

    Adds `val_loss` (mean cross-entropy), `val_accuracy` (= f1-micro for single-label data) and
    `val_f1_macro`, computed with `classification_report` (scikit-learn). Put it first in
    the callback list: callbacks after it (EarlyStopping, CSVLogger, TensorBoard, the progress
    bar) see these entries. Unlike `fit(validation_data=...)`, the last short batch is padded,
    so it also runs under `DataParallel` and gives the same numbers there.

    With `multilabel=True` (multi-hot labels) it adds `val_loss` (mean binary cross-entropy)
    and `val_gap`, `val_hit_at_one`, `val_perr`, `val_mean_ap`
    (`multilabel_classification_report`) instead.

    Args:
        dataset: batched `(inputs, one_hot_labels)`, not shuffled.
        label_names: class names in label order.
        batch_size: the dataset's batch size.
        multilabel: the labels are multi-hot (sigmoid outputs).
    """

    def __init__(
        self,
        dataset: tf.data.Dataset,
        label_names: Sequence[str],
        batch_size: int,
        multilabel: bool = False,
    ):
        super().__init__()
        self.dataset = dataset
        self.label_names = list(label_names)
        self.batch_size = batch_size
        self.multilabel = multilabel

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logits, labels = predict_logits(self.model, self.dataset, batch_size=self.batch_size)
        if self.multilabel:
            report = multilabel_classification_report(logits, labels)
            names = ("loss", *MULTILABEL_METRICS)
        else:
            report = classification_report(logits, labels, self.label_names)
            names = ("loss", "accuracy", "f1_macro")
        if logs is not None:
            for name in names:
                logs[f"val_{name}"] = report[name]
