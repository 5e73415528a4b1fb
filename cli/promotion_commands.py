"""Promotion commands (local registry, promote, approve, rollback, status, audit, demo)."""


def add_promotion_commands(commands, common) -> None:
    pass
