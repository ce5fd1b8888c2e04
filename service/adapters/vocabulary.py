"""The action vocabulary the adapters emit, rendered for the README."""

from __future__ import annotations

from service.adapters import azure_openai, cloudtrail, gcp_audit, openai_audit

# Actions the adapters add to the event schema's recommended vocabulary, with why each exists.
EXTENDED_ACTIONS: dict[str, str] = {
    "model.enumerate": "listing or probing models: the reconnaissance step before misuse",
    "model.access.enable": "turning on access to a foundation model (use case, agreement)",
    "guardrail.create": "a new guardrail (pairs with guardrail.update / guardrail.delete)",
    "user.create": "a new IAM user: the first step of a backdoor identity",
    "apikey.update": "an API key's scopes or state changed",
    "apikey.read": "secret keys read back (Azure ListKey returns the keys themselves)",
    "auth.assume_role": "a principal took on a role's credentials (sts AssumeRole*)",
    "role.assignment.create": "an org/project role granted to a principal (OpenAI)",
    "role.assignment.delete": "an org/project role removed from a principal (OpenAI)",
    "security_control.disable": "an access control removed (IP allowlist, SCIM)",
    "security_control.update": "an access control created or changed",
}


def mapping_markdown() -> str:
    """Every adapter's mapping table plus the vocabulary extensions, as Markdown."""
    sections = [
        ("AWS CloudTrail (`aws.cloudtrail`)", cloudtrail.render_markdown_table()),
        ("OpenAI audit logs (`openai.audit`)", openai_audit.render_markdown_table()),
        ("Google Cloud audit logs (`gcp.audit`)", gcp_audit.render_markdown_table()),
        ("Azure OpenAI diagnostics (`azure.openai`)", azure_openai.render_markdown_table()),
        (
            "Bedrock invocation logs (`aws.bedrock.invocation`)",
            "InvokeModel, InvokeModelWithResponseStream, Converse, ConverseStream -> "
            "`model.invoke`; any other operation -> `aws.bedrock.<operation>`.\n",
        ),
    ]
    extended = ["| action | meaning |", "|---|---|"]
    extended += [f"| `{action}` | {why} |" for action, why in EXTENDED_ACTIONS.items()]
    parts = [f"### {title}\n\n{body}" for title, body in sections]
    parts.append("### Actions added to the recommended vocabulary\n\n" + "\n".join(extended) + "\n")
    return "\n".join(parts)
