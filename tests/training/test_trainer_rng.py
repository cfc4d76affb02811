"""`--rng philox4x32` under DataParallel (vidcls_keras/_compat/jax_prng.py) matches one device."""

import json
import os
import subprocess
import sys

import pytest
from tiny_videos import REPO_ROOT, TINY_DATASET, build_tiny_dataset


@pytest.mark.slow
def test_philox_trains_on_two_devices_as_on_one(tmp_path):
    """Same seed, Philox dropout: two forced host devices give one device's losses (other
    reduction order: within 1e-4) and the same kept epoch."""
    data_dir = build_tiny_dataset(tmp_path / "tfds")
    # Both runs at once: each is mostly single-threaded start-up and compilation.
    processes = {}
    for devices in (1, 2):
        environment = dict(
            os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}"
        )
        command = [sys.executable, "-m", "vidcls_keras.train", "--model", "transformer"]
        command += ["--rng", "philox4x32", "--seed", "1", "--epochs", "2", "--batch-size", "4"]
        command += ["--dataset", TINY_DATASET, "--data-dir", str(data_dir), "--verbose", "0"]
        command += ["--output-dir", str(tmp_path / f"devices_{devices}")]
        processes[devices] = subprocess.Popen(
            command,
            env=environment,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    metrics = {}
    try:
        for devices, process in processes.items():
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr[-3000:]
            output_dir = tmp_path / f"devices_{devices}"
            config = json.loads((output_dir / "config.json").read_text())
            assert config["rng"] == "philox4x32"
            assert config["data_parallel_devices"] == (0 if devices == 1 else 2)
            metrics[devices] = json.loads((output_dir / "metrics.json").read_text())
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    assert metrics[2]["selection"] == metrics[1]["selection"]
    for split in ("validation", "test"):
        assert metrics[2][split]["loss"] == pytest.approx(metrics[1][split]["loss"], rel=1e-4)
