"""Azure Monitor for the workspace: a Log Analytics workspace and the diagnostic setting feeding it."""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct


@dataclass(frozen=True)
class WorkspaceMonitoringProps:
    name: str                      # Log Analytics workspace name
    resource_group_name: str
    location: str
    target_resource_id: str        # the Databricks workspace whose logs are collected
    categories: tuple[str, ...]    # Databricks diagnostic log categories
    retention_days: int = 30
    sku: str = "PerGB2018"
    setting_name: str = "to-log-analytics"
    # Storage account whose blob and queue requests are logged too (read, write, delete); None: none.
    storage_account_id: str | None = None
    storage_categories: tuple[str, ...] = ("StorageRead", "StorageWrite", "StorageDelete")
    tags: dict[str, str] = field(default_factory=dict)


class WorkspaceMonitoring(Construct):
    """Out: `log_analytics_workspace_id` (Azure resource id, token)."""

    def __init__(self, scope: Construct, id: str, props: WorkspaceMonitoringProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.log_analytics_workspace import LogAnalyticsWorkspace
        from cdktn_provider_azurerm.monitor_diagnostic_setting import (
            MonitorDiagnosticSetting,
            MonitorDiagnosticSettingEnabledLog,
        )

        if not props.categories:
            raise ValueError(f"diagnostic setting of {props.name}: no log category to send")
        self.log_analytics = LogAnalyticsWorkspace(
            self, "log-analytics",
            name=props.name,
            resource_group_name=props.resource_group_name,
            location=props.location,
            sku=props.sku,
            retention_in_days=props.retention_days,
            # Readers and writers authenticate with Entra ID; the shared workspace keys are refused.
            local_authentication_enabled=False,
            tags=props.tags,
        )

        def send(id: str, target: str, categories: tuple[str, ...]):
            return MonitorDiagnosticSetting(
                self, id,
                name=props.setting_name,
                target_resource_id=target,
                log_analytics_workspace_id=self.log_analytics.id,
                enabled_log=[MonitorDiagnosticSettingEnabledLog(category=c) for c in categories],
            )

        self.diagnostic_setting = send("diagnostics", props.target_resource_id, props.categories)
        # Diagnostic settings are the way to log storage requests without the account key (the
        # classic storage analytics logging and Log Analytics storage insights both need it).
        self.storage_diagnostic_settings = [
            send(f"{service}-diagnostics", f"{props.storage_account_id}/{service}/default", props.storage_categories)
            for service in ("blobServices", "queueServices")
        ] if props.storage_account_id else []
        self.log_analytics_workspace_id: str = self.log_analytics.id
