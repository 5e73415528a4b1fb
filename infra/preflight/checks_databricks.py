"""Databricks preflight checks: the account the account stack deploys into (framework: checks.py)."""

from __future__ import annotations

from .checks import ACCOUNT_PROBE_TIMEOUT, Context, Outcome, check, failed, passed, skipped


# ------------------------------------------------------------------------------------------------
# Databricks account


@check("DOC-DBX-001", "Databricks account reachable")
def databricks_account_reachable(ctx: Context) -> Outcome:
    account = ctx.envs.account
    if account is None:
        return skipped(f"{ctx.account_file()} is not loaded: no Databricks account to reach")
    url = f"{account.host}/oidc/accounts/{account.databricks_account_id}/.well-known/oauth-authorization-server"
    fix = (f"check databricks_account_id and host in {ctx.account_file()} (account console, top right), and that "
           f"HTTPS to {account.host} is allowed from here")
    import requests

    get = ctx.http_get or requests.get
    try:
        response = get(url, timeout=ACCOUNT_PROBE_TIMEOUT)
    except requests.RequestException as error:
        return failed(f"{url}: {type(error).__name__}", fix)
    if response.status_code != 200:
        return failed(f"{url} answered HTTP {response.status_code}", fix)
    try:
        metadata = response.json()
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        return failed(f"{url} answered 200 but not JSON (a proxy or a captive portal?)", fix)
    return passed(f"{url} answered 200 with OIDC metadata (issuer {metadata.get('issuer', '?')}); unauthenticated: "
                  "this proves the host and the account id, not that the deployer may administer the account")
