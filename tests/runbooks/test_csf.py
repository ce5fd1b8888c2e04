"""Shipped runbooks follow SP 800-61 Rev. 3: every step names the CSF 2.0 subcategories
it fulfils, and every runbook declares, communicates and feeds improvement."""

from __future__ import annotations

import re

import pytest

from service.runbooks import csf
from service.runbooks.loader import load_dir
from tests.runbooks.conftest import SHIPPED_DIR

TEMPLATES, PROBLEMS = load_dir(SHIPPED_DIR)


def test_shipped_runbooks_load_with_their_csf_ids() -> None:
    assert not PROBLEMS
    assert len(TEMPLATES) >= 9
    for template in TEMPLATES:
        for _, step in template.steps():
            assert step.csf, (template.id, step.id)
            assert all(i in csf.SUBCATEGORIES for i in step.csf), (template.id, step.id)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_every_runbook_declares_communicates_and_improves(template: object) -> None:
    fulfilled = {i for _, step in template.steps() for i in step.csf}  # type: ignore[attr-defined]
    # Triage and declaration, notification, containment, recovery communication, lessons.
    for needed in ("RS.MA-02", "DE.AE-08", "RS.CO-02", "RS.MI-01", "RC.CO-03", "ID.IM-03"):
        assert needed in fulfilled, (template.id, needed)  # type: ignore[attr-defined]
    # Each Function an incident walks through is represented.
    functions = {csf.function_of(i) for i in fulfilled}
    assert {"Respond", "Recover", "Identify"} <= functions


def test_catalogue_holds_only_well_formed_csf_2_ids() -> None:
    for sid, sub in csf.SUBCATEGORIES.items():
        assert re.fullmatch(r"(DE|RS|RC|ID)\.[A-Z]{2}-0\d", sid)
        assert sub.category == csf.CATEGORIES[sid[:5]]
    # CSF 1.1 ids (withdrawn) and invented ones are refused with a reason.
    for bad, reason in (("RS.RP-1", "not a CSF 2.0 subcategory id"),
                        ("RS.AN-01", "not a CSF 2.0 subcategory for incident work"),
                        ("rs.an-03", "not a CSF 2.0 subcategory id")):  # fmt: skip
        with pytest.raises(ValueError, match=reason):
            csf.check_id(bad)
