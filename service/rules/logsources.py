"""Which events a rule's `logsource` reads, and under which field names.

`logsource: {product: custody}` rules use Custody's event paths (`action`, `actor.id`,
`attributes.x`, see `fields.py`). A vendor logsource (`aws/cloudtrail`, `gcp/gcp.audit`,
...) uses the vendor's own field names, as SigmaHQ's rules do, and matches the original
record an adapter kept under `raw`, only for events whose `source` is the one that adapter
writes. Both are done the way Sigma backends adapt rules to a log store: a pySigma
processing pipeline, applied to the parsed rule before it is compiled:

1. field-name mapping where SigmaHQ's names differ from the record we keep (GCP rules
   say `gcp.audit.method_name` or `data.protoPayload.methodName` for the LogEntry's
   `protoPayload.methodName`),
2. the `raw.` prefix on every field, so the compiler reads the vendor record,
3. an added condition `source: <adapter source>`, AND-ed in front of the rule's own.

The engine evaluates the processed rule like any other; it only indexes vendor rules by
source and operation (`dispatch.py`), as it indexes Custody rules by action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sigma.processing.conditions import LogsourceCondition, RuleProcessingCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    AddFieldnamePrefixTransformation,
    FieldMappingTransformation,
    FieldPrefixMappingTransformation,
)
from sigma.processing.transformations.base import FieldMappingTransformationBase
from sigma.rule import SigmaLogSource, SigmaRule

from service.adapters import azure_openai, bedrock_invocation, cloudtrail, gcp_audit, openai_audit
from service.rules.fields import RAW

CUSTODY = "custody"


@dataclass(frozen=True, slots=True)
class VendorLogsource:
    """A Sigma logsource whose rules read one adapter's original records."""

    product: str
    service: str
    source: str  # the event `source` the adapter writes
    record: str  # what the original record is (for docs/sigma.md)
    sigmahq: bool  # SigmaHQ defines this logsource; otherwise the name is Custody's
    operation: str  # the record's operation field: the engine dispatches on its values
    mapping: Mapping[str, str] = field(default_factory=dict)  # Sigma field -> record path
    prefix_mapping: Mapping[str, str] = field(default_factory=dict)  # name prefix -> path prefix

    @property
    def key(self) -> str:
        return f"{self.product}/{self.service}"

    @property
    def index(self) -> str:
        return f"{RAW}.{self.operation}"

    def transformations(self) -> list[FieldMappingTransformationBase]:
        """The field-name steps of the pipeline, in order (fresh objects: pySigma keeps
        per-run state on them)."""
        steps: list[FieldMappingTransformationBase] = []
        if self.mapping:
            steps.append(FieldMappingTransformation(_names(self.mapping)))
        if self.prefix_mapping:
            steps.append(FieldPrefixMappingTransformation(_names(self.prefix_mapping)))
        steps.append(AddFieldnamePrefixTransformation(RAW + "."))
        return steps

    def field_path(self, name: str) -> str:
        """The event path a field name of this logsource reads (same steps as the pipeline;
        used for correlation group-by and alias fields, which the compiler does not see)."""
        for step in self.transformations():
            mapped = step.apply_field_name(name)
            if isinstance(mapped, str):
                name = mapped
        return name


def _names(mapping: Mapping[str, str]) -> dict[str | None, str | list[str]]:
    return dict(mapping.items())


VENDOR_LOGSOURCES: tuple[VendorLogsource, ...] = (
    VendorLogsource(
        "aws",
        "cloudtrail",
        cloudtrail.SOURCE,
        "the CloudTrail record (`eventSource`, `eventName`, `userIdentity.arn`, "
        "`requestParameters.*`, `sourceIPAddress`, `errorCode`, ...)",
        sigmahq=True,
        operation="eventName",
    ),
    VendorLogsource(
        "gcp",
        "gcp.audit",
        gcp_audit.SOURCE,
        "the Cloud Logging LogEntry (`protoPayload.methodName`, `protoPayload.serviceName`, "
        "`logName`, ...)",
        sigmahq=True,
        operation="protoPayload.methodName",
        # SigmaHQ's GCP rules use Elastic's `gcp.audit.*` names or the Pub/Sub export's
        # `data.` wrapper; `logName` sits on the LogEntry, not in protoPayload.
        mapping={
            "gcp.audit.method_name": "protoPayload.methodName",
            "gcp.audit.service_name": "protoPayload.serviceName",
            "gcp.audit.resource_name": "protoPayload.resourceName",
            "gcp.audit.authentication_info.principal_email": (
                "protoPayload.authenticationInfo.principalEmail"
            ),
            "gcp.audit.request_metadata.caller_ip": "protoPayload.requestMetadata.callerIp",
            "data.protoPayload.logName": "logName",
        },
        prefix_mapping={"data.": ""},
    ),
    VendorLogsource(
        "azure",
        "openai",
        azure_openai.SOURCE,
        "the Azure OpenAI diagnostic log record (`category`, `operationName`, "
        "`callerIpAddress`, `properties.*`) or API Management GatewayLogs record",
        sigmahq=False,
        operation="operationName",
    ),
    VendorLogsource(
        "openai",
        "audit",
        openai_audit.SOURCE,
        "the OpenAI organization audit log object (`type`, `actor.*`, and the payload under "
        "a key named like the type, dots included: `api_key.created.data.scopes`)",
        sigmahq=False,
        operation="type",
    ),
    VendorLogsource(
        "aws",
        "bedrock_invocation",
        bedrock_invocation.SOURCE,
        "the Bedrock model invocation log record (`operation`, `modelId`, `identity.arn`, "
        "`input.*`, `output.*`)",
        sigmahq=False,
        operation="operation",
    ),
)

# SigmaHQ logsources Custody knows but has no adapter for: no event could ever match.
NO_ADAPTER: Mapping[tuple[str, str], str] = {
    ("azure", "activitylogs"): "Azure activity logs",
    ("azure", "signinlogs"): "Azure / Entra ID sign-in logs",
    ("azure", "auditlogs"): "Azure / Entra ID audit logs",
}


class UnsupportedLogsource(ValueError):
    """The rule's logsource is not one Custody can match (the message says why)."""


def describe(logsource: SigmaLogSource) -> str:
    parts = [
        f"{name}: {value}"
        for name, value in (
            ("product", logsource.product),
            ("service", logsource.service),
            ("category", logsource.category),
        )
        if value
    ]
    return "{" + ", ".join(parts) + "}"


def resolve(rule: SigmaRule) -> VendorLogsource | None:
    """The vendor logsource a rule reads, None for Custody's event paths; raises
    UnsupportedLogsource for anything else."""
    logsource = rule.logsource
    if logsource.product == CUSTODY:
        return None
    for vendor in VENDOR_LOGSOURCES:
        # The same test the pipeline's items use to decide whether they apply.
        if LogsourceCondition(product=vendor.product, service=vendor.service).match(rule):
            return vendor
    known = ", ".join([CUSTODY, *(v.key for v in VENDOR_LOGSOURCES)])
    missing = NO_ADAPTER.get((str(logsource.product), str(logsource.service)))
    if missing is not None:
        raise UnsupportedLogsource(
            f"unsupported logsource {describe(logsource)}: Custody has no adapter for "
            f"{missing}, so no event could match (supported: {known})"
        )
    raise UnsupportedLogsource(f"unsupported logsource {describe(logsource)} (supported: {known})")


def pipeline(vendor: VendorLogsource) -> ProcessingPipeline:
    """The processing pipeline for rules of `vendor` (a fresh one: pipelines keep state
    while they run, and rules may load on several threads)."""

    def when() -> list[RuleProcessingCondition]:
        # One condition object per item: pySigma binds each to its item's pipeline.
        return [LogsourceCondition(product=vendor.product, service=vendor.service)]

    items = [
        ProcessingItem(step, rule_conditions=when(), identifier=f"{vendor.key}:fields:{i}")
        for i, step in enumerate(vendor.transformations())
    ]
    # After the prefix step, so that this one field stays a Custody event path.
    items.append(
        ProcessingItem(
            AddConditionTransformation({"source": vendor.source}, name="_custody_source"),
            rule_conditions=when(),
            identifier=f"{vendor.key}:source",
        )
    )
    return ProcessingPipeline(name=f"custody {vendor.key}", items=items)


def mapping_markdown() -> str:
    """The per-logsource table of docs/sigma.md (a test keeps the doc in sync)."""
    rows = [
        "| logsource | events matched (`source`) | fields read | field-name mapping |",
        "|---|---|---|---|",
        "| `product: custody` | every event | Custody event paths (`action`, `actor.id`, "
        "`attributes.<name>`...) | none |",
    ]
    for vendor in VENDOR_LOGSOURCES:
        names = [f"`{k}` → `raw.{v}`" for k, v in vendor.mapping.items()]
        names += [f"`{k}*` → `raw.{v}*`" for k, v in vendor.prefix_mapping.items()]
        names.append("any other `X` → `raw.X`" if names else "`X` → `raw.X`")
        origin = "" if vendor.sigmahq else " (Custody's name)"
        rows.append(
            f"| `product: {vendor.product}, service: {vendor.service}`{origin} | "
            f"`{vendor.source}` | `raw`: {vendor.record} | {'; '.join(names)} |"
        )
    for (product, service), what in NO_ADAPTER.items():
        rows.append(
            f"| `product: {product}, service: {service}` | none: no adapter for {what} | "
            "not loaded (unsupported logsource) | |"
        )
    return "\n".join(rows) + "\n"
