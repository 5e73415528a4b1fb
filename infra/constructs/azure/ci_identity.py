"""The environment's CI identity in Entra ID: application, service principal, federated credentials.

CI signs in with a short-lived OIDC token from GitHub Actions or Azure DevOps that Entra exchanges
for an access token; no client secret or certificate exists anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


@dataclass(frozen=True)
class CiIdentityProps:
    display_name: str                     # application and service principal name
    env_name: str                         # names the federated credentials
    github_subject: str | None = None     # e.g. repo:org/repo:environment:prod
    azure_devops_issuer: str | None = None   # https://vstoken.dev.azure.com/<organization id>
    azure_devops_subject: str | None = None  # sc://<org>/<project>/<service connection>
    # Entra tags are plain strings, so `environment=dev` becomes `environment:dev`.
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if (self.azure_devops_issuer is None) != (self.azure_devops_subject is None):
            raise ValueError(f"CI identity {self.display_name}: Azure DevOps needs both issuer and subject")


class CiIdentity(Construct):
    """Out: `client_id` (application/client id, token), `service_principal_object_id` (token)."""

    def __init__(self, scope: Construct, id: str, props: CiIdentityProps):
        super().__init__(scope, id)
        from cdktn_provider_azuread.application import Application
        from cdktn_provider_azuread.application_federated_identity_credential import (
            ApplicationFederatedIdentityCredential,
        )
        from cdktn_provider_azuread.service_principal import ServicePrincipal

        tags = [f"{key}:{value}" for key, value in sorted(props.tags.items())]
        self.application = Application(
            self, "application",
            display_name=props.display_name,
            sign_in_audience="AzureADMyOrg",
            prevent_duplicate_names=True,
            notes=f"CI identity of lakegate environment {props.env_name}; federated credentials only.",
            tags=tags,
        )
        self.service_principal = ServicePrincipal(
            self, "service-principal",
            client_id=self.application.client_id,
            app_role_assignment_required=False,
            tags=tags,
        )
        credentials = []
        if props.github_subject:
            credentials.append(("github-actions", GITHUB_ISSUER, props.github_subject))
        if props.azure_devops_subject:
            credentials.append(("azure-devops", props.azure_devops_issuer, props.azure_devops_subject))
        self.federated_credentials = [
            ApplicationFederatedIdentityCredential(
                self, f"federated-{source}",
                application_id=self.application.id,
                display_name=f"{source}-{props.env_name}",
                description=f"{source} deploys environment {props.env_name} (OIDC, no secret).",
                issuer=issuer,
                subject=subject,
                audiences=[TOKEN_EXCHANGE_AUDIENCE],
            )
            for source, issuer, subject in credentials
        ]
        self.client_id: str = self.application.client_id
        self.service_principal_object_id: str = self.service_principal.object_id
