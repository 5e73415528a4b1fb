"""CI/CD pipelines generated from environments/*.yaml: one plan of steps (plan.py), rendered for GitHub
Actions (github.py) and Azure DevOps (azure_devops.py), and run locally by `ci simulate` (simulate.py)."""
