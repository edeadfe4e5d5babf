"""The dashboard's views: one small ``Viewer`` per part of a page, grouped by page.

Each view watches a store (``store.py``) or read-only data (the population, the model card)
and renders it in the session's language. Every chart comes with a text alternative (a
sentence or a table).
"""

from dashboard.views.client import (
    ClientPicker,
    ClientProfile,
    Reasons,
    RecentClients,
    Recourse,
    ScoreCard,
    SensitivityView,
    ServerBanner,
    ServerState,
)
from dashboard.views.model import GlobalImportance, GovernanceCard, ModelPage, ShapSummary
from dashboard.views.population import Bivariate, PopulationView
from dashboard.views.whatif import ApplicationForm

__all__ = ["ApplicationForm", "Bivariate", "ClientPicker", "ClientProfile", "GlobalImportance",
           "GovernanceCard", "ModelPage", "PopulationView", "Reasons", "RecentClients",
           "Recourse", "ScoreCard", "SensitivityView", "ServerBanner", "ServerState",
           "ShapSummary"]
