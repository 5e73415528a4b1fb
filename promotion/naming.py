"""From what a person types (`churn` or `dev.ml.churn`) to the environment and full model name."""

from __future__ import annotations

from lakegate.infra.model import Environment, Environments
from lakegate.infra.suggest import did_you_mean

from .errors import InvalidRequest
from .registry import InvalidName, split_full_name


def bare_name(model: str) -> str:
    """`dev.ml.churn` -> `churn`; `churn` -> `churn`."""
    if model and "." not in model:
        return model
    try:
        return split_full_name(model)[2]
    except InvalidName:
        raise InvalidRequest(f"'{model}' is neither a model name (churn) nor a full name (catalog.schema.model)") from None


def declared_models(env: Environment) -> list[str]:
    """The bare names of the models `env` holds: the one place that says where models are declared."""
    return env.model_names


def environment(envs: Environments, name: str) -> Environment:
    """The environment named on the command line, or InvalidRequest (exit 6) with the closest name."""
    if name not in envs:
        raise InvalidRequest(f"unknown environment '{name}'{did_you_mean(name, envs.names)} "
                             f"(known: {', '.join(envs.names)})")
    return envs[name]


def declared_model(env: Environment, model: str) -> str:
    """The bare name of `model` (churn or a full name) when `env` declares it, or InvalidRequest (exit 6). A full
    name is checked for its catalog where it is used (full_name_in): here only whether the model exists."""
    name = bare_name(model)
    declared = declared_models(env)
    if name not in declared:
        raise InvalidRequest(f"model {name} is not declared in {env.locate('models')} (models of "
                             f"{env.name}: {', '.join(declared) or 'none'}){did_you_mean(name, declared)}")
    return name


def full_name_in(env: Environment, model: str) -> str:
    """The model's full name in env; a declared model only, and a full name must be in env's catalog."""
    name = bare_name(model)
    full = env.unity_catalog.model_full_name(name)
    if "." in model and model != full:
        raise InvalidRequest(f"{model} is not a model of {env.name} (its models live in {env.unity_catalog.catalog}."
                             f"{env.unity_catalog.model_schema})")
    declared_model(env, name)
    return full


def environment_of(envs: Environments, full_name: str) -> Environment | None:
    """The environment whose catalog holds a full model name."""
    return envs.by_catalog(full_name.split(".", 1)[0])
