"""The GitHub Actions workflows, read as data: short-lived AWS credentials only (OIDC), a plan
for pull requests, applies only from main, and images in the registry before an apply."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
MAIN_ONLY = "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def load(path: Path) -> dict[str, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in workflow:  # YAML 1.1 reads the key `on` as a boolean
        workflow["on"] = workflow.pop(True)
    return workflow


def by_name() -> dict[str, dict[str, Any]]:
    return {path.stem: load(path) for path in WORKFLOWS}


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def runs(job: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")) for step in steps(job)]


def uses_aws(job: dict[str, Any]) -> bool:
    return any(str(step.get("uses", "")).startswith(AWS_CREDENTIALS) for step in steps(job))


def applies(job: dict[str, Any]) -> bool:
    return any("terraform apply" in run for run in runs(job))


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(w, name, job) for w, flow in by_name().items() for name, job in flow["jobs"].items()]


def test_the_workflows_are_there() -> None:
    assert {"ci", "plan", "deploy"} <= set(by_name())


def test_no_long_lived_aws_keys_anywhere() -> None:
    """GIVEN every workflow WHEN read as text THEN no access key, secret key or their action
    inputs appear: AWS credentials come only from the OIDC role."""
    for path in WORKFLOWS:
        text = path.read_text().lower()
        for forbidden in (
            "aws_secret_access_key",
            "aws_access_key_id",
            "aws-access-key-id",
            "aws-secret-access-key",
            "aws_session_token",
        ):
            assert forbidden not in text, (path.name, forbidden)


@pytest.mark.parametrize(
    ("workflow", "job"), [(w, n) for w, n, j in all_jobs() if uses_aws(j)] or [("none", "none")]
)
def test_every_aws_job_assumes_a_role_with_an_oidc_token(workflow: str, job: str) -> None:
    """GIVEN a job that gets AWS credentials WHEN read THEN it may ask for an OIDC token
    (`id-token: write`), reads the repository only, and assumes a role."""
    definition = by_name()[workflow]["jobs"][job]
    permissions = definition.get("permissions") or by_name()[workflow].get("permissions")
    assert permissions is not None
    assert permissions.get("id-token") == "write"
    assert permissions.get("contents") == "read"
    for step in steps(definition):
        if str(step.get("uses", "")).startswith(AWS_CREDENTIALS):
            assert step["with"]["role-to-assume"].startswith("${{ vars.")


def test_only_jobs_that_need_a_token_may_ask_for_one() -> None:
    """GIVEN every workflow WHEN its permissions are read THEN the default is read-only and
    only jobs that assume an AWS role ask for an OIDC token."""
    for workflow, flow in by_name().items():
        assert flow["permissions"] == {"contents": "read"}, workflow
        for name, job in flow["jobs"].items():
            if (job.get("permissions") or {}).get("id-token") == "write":
                assert uses_aws(job), (workflow, name)


def test_pull_requests_get_a_plan_and_never_an_apply() -> None:
    """GIVEN the workflows that pull requests trigger WHEN read THEN one plans dev (and keeps
    and posts the plan), and none applies or pushes images."""
    flows = by_name()
    on_pr = {w: f for w, f in flows.items() if "pull_request" in f["on"]}
    planned = [
        job
        for flow in on_pr.values()
        for job in flow["jobs"].values()
        if any("terraform plan" in run and "envs/dev" in str(job) for run in runs(job))
    ]
    assert planned, "no terraform plan for pull requests"
    assert any(
        str(step.get("uses", "")).startswith("actions/upload-artifact")
        for job in planned
        for step in steps(job)
    )
    for flow in on_pr.values():
        for job in flow["jobs"].values():
            assert not applies(job)
            assert not any("--push" in run for run in runs(job))


def test_applies_run_only_for_pushes_to_main() -> None:
    """GIVEN every job that runs `terraform apply` WHEN read THEN its workflow runs only for
    pushes to main and the job itself is guarded to them too."""
    appliers = [(w, n, j) for w, n, j in all_jobs() if applies(j)]
    assert {n for _, n, _ in appliers} == {"dev", "prod"}
    for workflow, _, job in appliers:
        assert by_name()[workflow]["on"] == {"push": {"branches": ["main"]}}
        assert job["if"] == MAIN_ONLY


def test_images_are_pushed_before_the_apply_that_uses_them() -> None:
    """GIVEN each deploy job WHEN its steps are read in order THEN the images are pushed
    (tagged with the commit) before the plan that names them, the plan and the apply use
    `image_tag` = the commit, and the apply is of that plan."""
    for _, name, job in all_jobs():
        if not applies(job):
            continue
        texts = [str(step.get("run", "")) for step in steps(job)]
        envs = [step.get("env", {}) for step in steps(job)]
        push = next(i for i, t in enumerate(texts) if "docker/build.sh --push" in t)
        assert envs[push]["TAG"] == "${{ github.sha }}"
        plan = next(i for i, t in enumerate(texts) if "terraform plan" in t)
        apply = next(i for i, t in enumerate(texts) if re.search(r"terraform apply .*tfplan", t))
        assert push < plan < apply, name
        assert "image_tag=${{ github.sha }}" in texts[plan]
        targeted = [t for t in texts[:push] if "terraform apply" in t]
        assert all("-target=module.stack.module.ecr" in t for t in targeted), name


def test_prod_waits_for_dev_and_its_reviewers() -> None:
    """GIVEN the deploy workflow WHEN read THEN dev deploys after the checks and the image
    build, and prod after dev, in the `prod` environment (whose required reviewers hold it)."""
    jobs = by_name()["deploy"]["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["images"]["needs"] == "checks"
    assert (jobs["dev"]["needs"], jobs["dev"]["environment"]) == ("images", "dev")
    assert (jobs["prod"]["needs"], jobs["prod"]["environment"]) == ("dev", "prod")


def test_the_released_images_come_with_their_sboms() -> None:
    """GIVEN the deploy workflow's image build WHEN read THEN after the images are built it
    writes each image's SBOM and licence listing (docker/build.sh --sbom) and keeps them as
    an artifact named by the commit."""
    job = by_name()["deploy"]["jobs"]["images"]
    texts = runs(job)
    build = next(i for i, t in enumerate(texts) if "docker/build.sh\n" in t + "\n")
    sbom = next(i for i, t in enumerate(texts) if "docker/build.sh --sbom reports/sbom/images" in t)
    assert build < sbom
    kept = [
        step
        for step in steps(job)[sbom:]
        if str(step.get("uses", "")).startswith("actions/upload-artifact")
    ]
    assert kept and kept[0]["with"]["path"] == "reports/sbom/images"
    assert "${{ github.sha }}" in kept[0]["with"]["name"]


def test_ci_runs_the_checks_the_project_defines() -> None:
    """GIVEN ci.yml WHEN read THEN it runs .ci/run, hadolint, checkov, the image build and
    tools/terraform-check.sh (terraform fmt, init, validate, test)."""
    everything = "\n".join(run for job in by_name()["ci"]["jobs"].values() for run in runs(job))
    for command in (
        "bash .ci/run",
        "hadolint",
        "tools/checkov/run.sh",
        "docker/build.sh",
        "docker/build.sh --sbom",
        "tests/infra/test_sbom.py",
        "tools/terraform-check.sh",
    ):
        assert command in everything, command


def terraform_versions(job: dict[str, Any]) -> list[str]:
    return [
        str(step["with"]["terraform_version"])
        for step in steps(job)
        if str(step.get("uses", "")).startswith("hashicorp/setup-terraform")
    ]


def test_terraform_is_the_version_the_tests_need_wherever_it_runs() -> None:
    """GIVEN every job that runs terraform, or the test suite that runs it WHEN read THEN it
    installs terraform 1.11 or later (the tests' mock providers use override_during), without
    the wrapper that would mangle -json output."""
    for workflow, name, job in all_jobs():
        commands = "\n".join(runs(job))
        if "terraform" not in commands and ".ci/run" not in commands:
            continue
        versions = terraform_versions(job)
        assert versions, (workflow, name)
        for version in versions:
            assert re.fullmatch(r"1\.(1[1-9]|[2-9]\d)\.\d+", version), (workflow, name, version)
        for step in steps(job):
            if str(step.get("uses", "")).startswith("hashicorp/setup-terraform"):
                assert step["with"].get("terraform_wrapper") is False, (workflow, name)


def test_plans_and_applies_come_after_validate_and_test() -> None:
    """GIVEN each job that plans a stage WHEN its steps are read in order THEN the Terraform
    has been validated and its tests run before the plan."""
    planners = [(w, n, j) for w, n, j in all_jobs() if any("terraform plan" in r for r in runs(j))]
    assert planners
    for workflow, name, job in planners:
        texts = runs(job)
        plan = next(i for i, t in enumerate(texts) if "terraform plan" in t)
        checked = texts[:plan]
        assert any("terraform validate" in t or "tools/terraform-check.sh" in t for t in checked), (
            workflow,
            name,
        )
        assert any("terraform test" in t or "tools/terraform-check.sh" in t for t in checked), (
            workflow,
            name,
        )


def test_actions_are_pinned() -> None:
    """GIVEN every `uses:` of an action WHEN read THEN it names a major version or a full
    commit SHA, never a branch."""
    for workflow, name, job in all_jobs():
        for step in steps(job):
            action = step.get("uses")
            if action and not action.startswith("./"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+|[0-9a-f]{40})", action), (
                    workflow,
                    name,
                    action,
                )
