"""The local embedded registry: one MLflow server on 127.0.0.1 provisioned from the environments.

    server.py        LocalRegistry(state_dir).up(plan) / .status() / .down(); .adapter(principal) signs in
                     through the `local-password` credential strategy (promotion/credentials/)
    process.py       the detached server process;  secret_file.py  its mode-0600 credentials file
    provision.py     LocalAccessPlan, apply_plan: workspaces, users, workspace-scoped roles
    adapter.py       LocalRegistryAdapter: the RegistryAdapter, acting as one principal
    version_copy.py  VersionCopy: the copy of a version into another workspace (the adapter's collaborator)
    rest.py          the REST client (MlflowHttp, RegistryRest) and what its failures mean
    transfer/        the files: walk, stream-copy, hash, download; the copy cache; private temp folders
    workspaces.py    catalog -> MLflow workspace, `catalog.schema.model` -> (workspace, `schema.model`)
    relocate.py      a copy's MLmodel points into the target;  uc_uri.py  `models:/catalog.schema.model` URIs
"""
