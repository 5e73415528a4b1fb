"""Azure constructs of the `<env>-azure` stack: one resource family per module, typed props in, attributes out.

Each module imports only the provider submodules it uses: a provider package is hundreds of
megabytes of jsii bindings, and importing a submodule is what loads its classes.
"""
