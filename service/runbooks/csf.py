"""NIST CSF 2.0 subcategories that incident response work fulfils (SP 800-61 Rev. 3).

SP 800-61 Rev. 3 organizes incident response around the CSF 2.0 Functions: Detect,
Respond and Recover during an incident, with Identify's Improvement category (ID.IM)
fed by every incident. Runbook steps name the subcategories they fulfil; the loader
refuses an id that is not here, and the incident report groups the work by Function.

The ids and outcomes are those of the CSF 2.0 Core (NIST CSWP 29, February 2024); only
the subcategories a responder's step can fulfil are listed (Govern and Protect outcomes
are programme work, not incident steps). Titles are short paraphrases for reports.
"""

from __future__ import annotations

import re
from typing import NamedTuple

CSF_VERSION = "2.0"
_ID = re.compile(r"^(?P<function>[A-Z]{2})\.(?P<category>[A-Z]{2})-(?P<n>\d{2})$")


class Subcategory(NamedTuple):
    id: str
    category: str
    title: str

    @property
    def function(self) -> str:
        return FUNCTIONS[self.id[:2]]


FUNCTIONS = {"DE": "Detect", "RS": "Respond", "RC": "Recover", "ID": "Identify"}
# Report order: the incident as it unfolds, then what it teaches.
FUNCTION_ORDER = ("Detect", "Respond", "Recover", "Identify")

CATEGORIES = {
    "DE.CM": "Continuous Monitoring",
    "DE.AE": "Adverse Event Analysis",
    "RS.MA": "Incident Management",
    "RS.AN": "Incident Analysis",
    "RS.CO": "Incident Response Reporting and Communication",
    "RS.MI": "Incident Mitigation",
    "RC.RP": "Incident Recovery Plan Execution",
    "RC.CO": "Incident Recovery Communication",
    "ID.IM": "Improvement",
}

_TITLES = {
    "DE.CM-01": "Networks and network services are monitored",
    "DE.CM-03": "Personnel activity and technology usage are monitored",
    "DE.CM-06": "External service provider activities and services are monitored",
    "DE.CM-09": "Computing hardware, software, runtime environments and their data are monitored",
    "DE.AE-02": "Potentially adverse events are analyzed",
    "DE.AE-03": "Information is correlated from multiple sources",
    "DE.AE-04": "The estimated impact and scope of adverse events are understood",
    "DE.AE-06": "Information on adverse events is provided to authorized staff and tools",
    "DE.AE-07": "Threat intelligence and other contextual information are integrated "
    "into the analysis",
    "DE.AE-08": "Incidents are declared when adverse events meet the incident criteria",
    "RS.MA-01": "The incident response plan is executed once an incident is declared",
    "RS.MA-02": "Incident reports are triaged and validated",
    "RS.MA-03": "Incidents are categorized and prioritized",
    "RS.MA-04": "Incidents are escalated or elevated as needed",
    "RS.MA-05": "The criteria for initiating incident recovery are applied",
    "RS.AN-03": "Analysis establishes what took place and the root cause",
    "RS.AN-06": "Investigation actions are recorded with integrity and provenance preserved",
    "RS.AN-07": "Incident data and metadata are collected with integrity and provenance preserved",
    "RS.AN-08": "The incident's magnitude is estimated and validated",
    "RS.CO-02": "Internal and external stakeholders are notified of incidents",
    "RS.CO-03": "Information is shared with designated internal and external stakeholders",
    "RS.MI-01": "Incidents are contained",
    "RS.MI-02": "Incidents are eradicated",
    "RC.RP-01": "The recovery portion of the incident response plan is executed",
    "RC.RP-02": "Recovery actions are selected, scoped, prioritized and performed",
    "RC.RP-03": "The integrity of backups and other restoration assets is verified before use",
    "RC.RP-04": "Post-incident operational norms are established",
    "RC.RP-05": "The integrity of restored assets is verified and normal operation confirmed",
    "RC.RP-06": "The end of recovery is declared and incident documentation completed",
    "RC.CO-03": "Recovery activities and progress are communicated to stakeholders",
    "RC.CO-04": "Public updates on recovery are shared through approved methods",
    "ID.IM-01": "Improvements are identified from evaluations",
    "ID.IM-02": "Improvements are identified from security tests and exercises",
    "ID.IM-03": "Improvements are identified from the execution of operational processes",
    "ID.IM-04": "Incident response and other cybersecurity plans are maintained and improved",
}

SUBCATEGORIES: dict[str, Subcategory] = {
    sid: Subcategory(sid, CATEGORIES[sid[:5]], title) for sid, title in _TITLES.items()
}


def check_id(value: str) -> str:
    """The id itself if it is a CSF 2.0 subcategory an incident step can fulfil."""
    if value in SUBCATEGORIES:
        return value
    if not _ID.match(value):
        raise ValueError(f"{value!r} is not a CSF 2.0 subcategory id (like RS.AN-03)")
    raise ValueError(
        f"{value!r} is not a CSF 2.0 subcategory for incident work "
        f"(known: {', '.join(sorted(SUBCATEGORIES))})"
    )


def function_of(subcategory_id: str) -> str:
    return SUBCATEGORIES[subcategory_id].function
