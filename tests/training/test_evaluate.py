"""Tests for vidcls_keras.training.evaluate: padded prediction, the report, the plots."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from vidcls_keras.training import evaluate  # noqa: E402


def test_predict_logits_pads_short_batches_and_keeps_order():
    inputs = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    labels = np.eye(3, dtype=np.float32)[np.arange(7) % 3]
    dataset = tf.data.Dataset.from_tensor_slices(({"x": inputs}, labels)).batch(3)
    x = keras.Input((3,), name="x")
    model = keras.Model({"x": x}, keras.layers.Dense(3, name="logits")(x))
    logits, returned_labels = evaluate.predict_logits(model, dataset, batch_size=4)
    np.testing.assert_allclose(logits, model.predict({"x": inputs}, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(returned_labels, labels)
    with pytest.raises(ValueError, match="more than batch_size=2"):
        evaluate.predict_logits(model, dataset, batch_size=2)


def test_classification_report_matches_a_hand_count():
    labels = np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 2, 2]]
    predicted = [0, 1, 1, 1, 2, 0]
    logits = 5.0 * np.eye(3, dtype=np.float32)[predicted]
    report = evaluate.classification_report(logits, labels, ["a", "b", "c"])
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["f1_micro"] == pytest.approx(4 / 6)
    # per class f1: a = 2*0.5*0.5/1 = 0.5, b = 2*(2/3)*1/(5/3) = 0.8, c = 2*1*0.5/1.5 = 2/3.
    assert report["f1_macro"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert report["per_class"]["b"]["recall"] == pytest.approx(1.0)
    # -log softmax(logits)[true] = log(e^5 + 2) - 5 * [predicted == true]
    correct = np.array(predicted) == [0, 0, 1, 1, 2, 2]
    expected_loss = np.mean(np.log(np.exp(5.0) + 2.0) - 5.0 * correct)
    assert report["loss"] == pytest.approx(expected_loss, rel=1e-5)
    with pytest.raises(ValueError, match="expected logits and labels of shape"):
        evaluate.classification_report(logits, labels, ["a", "b"])


def test_plots_write_pngs(tmp_path):
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "val_f1_macro": [0.4, 0.6]}
    curves = evaluate.plot_history(history, tmp_path / "curves.png", best_epoch=1, title="t")
    matrix = evaluate.plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], tmp_path / "cm.png")
    for path in (curves, matrix):
        assert path.read_bytes()[:4] == b"\x89PNG"
