"""The CI workflow (.github/workflows/ci.yml; actionlint lints it in make lint): it runs the
README's test command and the regression check, and every deploy waits for a person."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_command_and_deploys_only_with_approval():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = wf["jobs"]
    test_steps = " ".join(s.get("run", "") for s in jobs["test"]["steps"])
    assert "make test" in test_steps and "make bench-check" in test_steps
    assert "make test" in (ROOT / "README.md").read_text()
    assert "buf breaking" in " ".join(s.get("run", "") for s in jobs["buf-breaking"]["steps"])
    deploys = {name: job for name, job in jobs.items() if name.startswith("deploy-")}
    assert set(deploys) == {"deploy-dev", "deploy-prod"}
    for name, job in deploys.items():
        overlay = name.removeprefix("deploy-")
        assert job["environment"] == overlay  # required reviewers on the environment: a person approves
        assert f"make deploy OVERLAY={overlay}" in " ".join(s.get("run", "") for s in job["steps"])
    assert jobs["deploy-prod"]["needs"] == ["deploy-dev"] and jobs["deploy-dev"]["needs"] == ["image"]
    assert wf["permissions"] == {"contents": "read"}  # least privilege; image gets packages: write
    assert jobs["image"]["permissions"]["packages"] == "write"
