"""`tfds build builders/youtube8m`: the installed package's `youtube8m` builder, from a clone.

The builder lives in `vidcls_keras/datasets/youtube8m/` (README, CITATIONS.bib, dummy data and test
there). This folder keeps the TFDS folder convention the README's commands use; it defines a
subclass only because `tfds build <folder>` takes the builder class defined in this module. It
reads the package's metadata, so both paths build the same dataset, bit for bit.
"""

from vidcls_keras.datasets.youtube8m import youtube8m_dataset_builder as package_builder


class Builder(package_builder.Builder, skip_registration=True):
    """`vidcls_keras.datasets.youtube8m`'s builder, under its name; see its README."""

    pkg_dir_path = package_builder.Builder._get_pkg_dir_path()
