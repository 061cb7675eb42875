"""Every domain's tables on one ``MetaData``: what Alembic compares and the app maps."""

from __future__ import annotations

from sqlalchemy import MetaData

from gridapp.core.models import Base


def load_models() -> MetaData:
    """Import every domain's models so each table is registered on ``Base.metadata``."""
    # Imported here: core is imported by every domain, so it names them only when asked.
    import gridapp.accounts.models
    import gridapp.accounts.principals  # its flush listeners move a changed user's version on
    import gridapp.calendar.models
    import gridapp.cases.models
    import gridapp.catalogue.models
    import gridapp.catalogue.services  # its flush listener moves the catalogue version on
    import gridapp.channels.iot.models
    import gridapp.channels.open311.models
    import gridapp.core.audit
    import gridapp.evaluation.models
    import gridapp.evaluation.rollup
    import gridapp.grid.models
    import gridapp.media.models
    import gridapp.notifications.models
    import gridapp.patrol.models  # noqa: F401

    return Base.metadata
