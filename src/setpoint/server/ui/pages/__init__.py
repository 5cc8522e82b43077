"""The UI's pages, one module per area; importing this package registers their routes."""

from setpoint.server.ui.pages import (  # noqa: F401
    audit,
    datasets,
    deployments,
    lineage,
    models,
    monitors,
    pipelines,
    projects,
    runs,
)
