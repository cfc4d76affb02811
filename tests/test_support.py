"""The rule for tests that need ../shared/data: skip in a user's clone, fail in CI."""

import pytest
from support import require_shared


def test_missing_shared_data_skips_outside_ci(monkeypatch, tmp_path):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real clips not present"):
        require_shared(tmp_path / "absent", "real clips")


def test_missing_shared_data_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: real clips not present"):
        require_shared(tmp_path / "absent", "real clips")
    assert require_shared(tmp_path, "a folder that exists") == tmp_path
