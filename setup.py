"""The wheel holds one top-level package, `lakegate`: the repository's top-level folders (infra/, promotion/,
pipelines/, cli/, reports/, ci/, fixed by the design card) become `lakegate.infra`, `lakegate.promotion`, ...
Everything else is declared in pyproject.toml."""

from setuptools import find_packages, setup

PARTS = ("infra", "promotion", "pipelines", "cli", "reports", "ci")

packages, package_dir = ["lakegate"], {"lakegate": "lakegate"}
for part in PARTS:
    package_dir[f"lakegate.{part}"] = part
    packages += [f"lakegate.{part}"] + [f"lakegate.{part}.{sub}" for sub in find_packages(part)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "lakegate.reports": ["static/*", "templates/*"],
        "lakegate": ["templates/**/*"],
    },
    include_package_data=False,
)
