"""Simulator builds go to one fixed place, not into whatever directory a command runs in."""
from pathlib import Path

from rosvd.hw.svd.params import SVDParams
from rosvd.sim import build_root as where
from rosvd.sim import svd_bench


def test_builds_do_not_follow_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(where.BUILD_ENV, raising=False)
    first = svd_bench.build_dir(SVDParams())
    monkeypatch.chdir(tmp_path)
    assert svd_bench.build_dir(SVDParams()) == first  # a user elsewhere reuses the build
    assert first.is_absolute() and first.parent == where.CHECKOUT / "build" / "sim"
    assert svd_bench.build_dir(SVDParams(n=16, units=4)) != first  # keyed by the engine parameters


def test_the_environment_and_an_installed_package_choose_their_own(tmp_path, monkeypatch):
    monkeypatch.setenv(where.BUILD_ENV, str(tmp_path / "mine"))
    assert where.build_root() == tmp_path / "mine"
    monkeypatch.delenv(where.BUILD_ENV)
    monkeypatch.setattr(where, "CHECKOUT", tmp_path / "site-packages")  # no checkout around it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert where.build_root() == tmp_path / "cache" / "rosvd" / "sim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert where.build_root() == Path.home() / ".cache" / "rosvd" / "sim"
