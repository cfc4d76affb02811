"""Workaround: a tensor shuffle seed inside a traced tf.data function fails under global seed 0.

`make_batches(epochs=...)` builds each epoch's shuffle with a seed computed from `(seed, epoch)`
as a tensor, inside `Dataset.flat_map`. When TF's global seed is 0 (`keras.utils.set_random_seed(0)`,
our default seed), TF's seed logic (`random_seed.get_seed`) tests the op seed with `if seed == 0`,
which on a symbolic tensor raises "using a tf.Tensor as a Python bool is not allowed in graph
execution". Setting a fixed global seed for that function's graph only avoids the branch: the
function's graph seed is local to the function (the caller's global seed is unchanged, tested).
Canary: tests/_compat/test_tf_seed.py fails the day TensorFlow accepts the tensor seed; then call
sites can drop `use_fixed_graph_seed`.
"""

import tensorflow as tf

GRAPH_SEED = 1  # any fixed value other than 0; it only selects the code path, not the numbers


def use_fixed_graph_seed() -> None:
    """Call first inside a traced tf.data function that shuffles with a tensor seed."""
    tf.random.set_seed(GRAPH_SEED)
