"""The YouTube-8M starter's mixture of logistic experts, as a layer that returns logits."""

import keras
from keras import ops

from vidcls_keras.models.layers import check_sizes


@keras.saving.register_keras_serializable(package="vidcls_keras")
class MixtureOfExperts(keras.layers.Layer):
    """Per class, a softmax gate over `num_mixtures` logistic experts and one dummy expert.

    The starter code's `MoeModel` (google/youtube-8m `video_level_models.py`): for class c,

        p_c = sum_m gate_cm * sigmoid(expert_cm),   gate_c = softmax over num_mixtures + 1

    where the last gate belongs to a dummy expert that always predicts 0 (so a class can say
    "absent" without pushing every expert down). Gates have no bias; experts have one; both
    kernels carry an L2 penalty (slim's `l2_regularizer(l2_penalty)` is
    `l2_penalty * sum(w ** 2) / 2`, hence `keras.regularizers.L2(l2_penalty / 2)` here).

    The starter returned `p`; this layer returns its logit, `log p - log(1 - p)`, computed in log
    space so that binary cross-entropy from logits stays exact where `p` rounds to 0 or 1:

        log p     = logsumexp_m(log gate_cm + log_sigmoid(expert_cm))
        log (1-p) = logsumexp(log gate_c,dummy, log gate_cm + log_sigmoid(-expert_cm))

    (the gates sum to 1, so `1 - p = gate_dummy + sum_m gate_m * sigmoid(-expert_m)`).
    `sigmoid(logits)` is the starter's prediction.

    Args:
        num_classes: classes (logits per example).
        num_mixtures: experts per class, the dummy one not counted (the starter's 2).
        l2_penalty: the starter's L2 penalty on the gate and expert kernels (1e-8).
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, features)`.

    Returns:
        Float tensor `(batch, num_classes)` of logits.
    """

    def __init__(self, num_classes: int, num_mixtures: int = 2, l2_penalty: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        check_sizes(num_classes=num_classes, num_mixtures=num_mixtures)
        if not l2_penalty >= 0:
            raise ValueError(f"l2_penalty must be >= 0, got {l2_penalty!r}.")
        self.num_classes = num_classes
        self.num_mixtures = num_mixtures
        self.l2_penalty = l2_penalty
        regularizer = keras.regularizers.L2(l2_penalty / 2) if l2_penalty else None
        self.gates = keras.layers.Dense(
            num_classes * (num_mixtures + 1),
            use_bias=False,
            kernel_regularizer=regularizer,
            name="gates",
        )
        self.experts = keras.layers.Dense(
            num_classes * num_mixtures, kernel_regularizer=regularizer, name="experts"
        )

    def build(self, input_shape):
        self.gates.build(input_shape)
        self.experts.build(input_shape)

    def call(self, inputs):
        mixtures = self.num_mixtures
        gates = ops.reshape(self.gates(inputs), (-1, self.num_classes, mixtures + 1))
        experts = ops.reshape(self.experts(inputs), (-1, self.num_classes, mixtures))
        log_gates = ops.log_softmax(gates, axis=-1)
        log_present = ops.logsumexp(log_gates[..., :mixtures] + ops.log_sigmoid(experts), axis=-1)
        log_absent = ops.logsumexp(
            ops.concatenate(
                [log_gates[..., mixtures:], log_gates[..., :mixtures] + ops.log_sigmoid(-experts)],
                axis=-1,
            ),
            axis=-1,
        )
        return log_present - log_absent

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            num_mixtures=self.num_mixtures,
            l2_penalty=self.l2_penalty,
        )
        return config
