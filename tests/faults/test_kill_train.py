"""kill -9 of `gbv train` around the model registry: dim_model never points at a half-written artifact, and the
same command again ends exactly where an uninterrupted training ends."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.faults

AS_OF = "2026-09-15"
POINTS = [
    ("model_renamed", "artifact folder renamed into models/, dim_model row not inserted"),
    ("model_registered", "dim_model challenger row inserted, not evaluated or promoted"),
]


def _models(home) -> dict[str, str]:  # noqa: ANN001
    from model.store import COMPLETE_MARKER, content_hash

    # the artifact's bytes (card.json also records wall-clock seconds and the snapshot's path)
    return {p.name: content_hash(p / "artifact") for p in sorted((home / "models").iterdir())
            if (p / COMPLETE_MARKER).is_file()}


@pytest.fixture(scope="module")
def trained_reference(clean_night, tmp_path_factory, kit):
    """The clean night's home, copied, then trained once without interruption."""
    home = tmp_path_factory.mktemp("train_ref") / "home"
    shutil.copytree(clean_night.home, home)
    run = kit.run_gbv(["train", "--as-of", AS_OF], kit.fault_env(home, ""))
    assert run.returncode == 0, run.tail(30)
    return home, _models(home), run


@pytest.mark.parametrize("point,where", POINTS, ids=[p[0] for p in POINTS])
def test_kill_train_then_rerun(point, where, clean_night, trained_reference, tmp_path, record, kit):
    ref_home, ref_models, ref_run = trained_reference
    home = tmp_path / "home"
    shutil.copytree(clean_night.home, home)
    env = kit.fault_env(home, "")
    killed = kit.run_gbv(["train", "--as-of", AS_OF], {**env, "GBV_FAULT_KILL_AT": point})
    assert killed.sigkilled, f"{point} not reached (exit {killed.returncode}):\n{killed.tail()}"
    problems = kit.check_invariants(home, clean_night.state)
    leftovers = [p.name for p in (home / "models").glob(".tmp-*")]
    rerun = kit.run_gbv(["train", "--as-of", AS_OF], env)
    assert rerun.returncode == 0, rerun.tail(30)
    # the copies hold the clean home's path in artifact_path: compare with that path as "$HOME"
    state = kit.read_state(home)
    ref = kit.read_state(ref_home)
    diff = ref.diff(state)
    models = _models(home)
    outcome = rerun.stdout.strip().splitlines()[0] if rerun.stdout.strip() else ""
    ok = not problems and not diff and models == ref_models and not leftovers and \
        outcome == ref_run.stdout.strip().splitlines()[0]
    record(f"kill -9 of gbv train at {point}", where,
           "registry never half; re-run = uninterrupted training",
           f"{outcome[:60]}; dim_model {'==' if not diff else 'differs'}; {len(models)} complete artifacts "
           f"{'==' if models == ref_models else '!='}" + (f"; {problems[0]}" if problems else ""), ok)
    assert not problems, problems
    assert not diff, diff
    assert models == ref_models
    assert outcome == ref_run.stdout.strip().splitlines()[0]
