"""The wheel holds one top-level package, `lakegate`: the repository's top-level folders (infra/, promotion/,
pipelines/, cli/, reports/, ci/, fixed by the design card) become `lakegate.infra`, `lakegate.promotion`, ...
Everything else is declared in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PARTS = ("infra", "promotion", "pipelines", "cli", "reports", "ci")

packages, package_dir = ["lakegate"], {"lakegate": "lakegate"}
for part in PARTS:
    package_dir[f"lakegate.{part}"] = part
    packages += [f"lakegate.{part}"] + [f"lakegate.{part}.{sub}" for sub in find_packages(part)]



class build_py_with_example(build_py):
    """Also ship this repository's example project (environments/, models/): what `lakegate init` starts from."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "lakegate" / "example_project"
        for folder, pattern in (("environments", "*.yaml"), ("models", "*.py")):
            (target / folder).mkdir(parents=True, exist_ok=True)
            for source in sorted(Path(folder).glob(pattern)):
                if source.name != "__init__.py":
                    shutil.copyfile(source, target / folder / source.name)


setup(
    cmdclass={"build_py": build_py_with_example},
    packages=packages,
    package_dir=package_dir,
    package_data={
        "lakegate.reports": ["static/*", "templates/*"],
        "lakegate.cli": ["terraform.rc"],
        "lakegate": ["templates/**/*"],
    },
    include_package_data=False,
)
