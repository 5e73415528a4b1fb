"""Every third-party action and task the generated pipelines use, pinned, in one place.

GitHub actions are pinned by full commit SHA (a tag can be moved, a commit cannot), with the release
tag as a comment so people and Dependabot can read it. The SHAs were read from git snapshots of the
actions' repositories (`git rev-parse <tag>^{commit}`); tests/test_ci_render.py checks that every
`uses:` in the generated workflows is one of these, pinned.

Azure DevOps tasks are built into the service and can only be pinned to a major version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    repository: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repository}@{self.sha}"


CHECKOUT = Action("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")
SETUP_PYTHON = Action("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0")
AZURE_LOGIN = Action("azure/login", "f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca", "v3.0.1")
SETUP_TERRAFORM = Action("hashicorp/setup-terraform", "dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1")
UPLOAD_ARTIFACT = Action("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0")
DOWNLOAD_ARTIFACT = Action("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1")
ACTIONS = (CHECKOUT, SETUP_PYTHON, SETUP_TERRAFORM, AZURE_LOGIN, UPLOAD_ARTIFACT, DOWNLOAD_ARTIFACT)

# Terraform: what the tests parse the stacks with (tests/test_terraform_cli.py) and cdktf deploy applies
# with; hosted runners have none. Azure DevOps downloads the release and checks HashiCorp's published
# SHA-256 of the linux_amd64 zip.
TERRAFORM_VERSION = "1.11.4"
TERRAFORM_LINUX_AMD64_SHA256 = "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc"

# Azure DevOps: built-in tasks, major versions.
ADO_AZURE_CLI = "AzureCLI@2"
ADO_USE_PYTHON = "UsePythonVersion@0"

PYTHON_VERSION = "3.11"
GITHUB_RUNNER = "ubuntu-24.04"
ADO_VM_IMAGE = "ubuntu-24.04"
