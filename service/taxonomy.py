"""The AI incident taxonomy: what kind of incident this is, shared by rules and incidents.

A rule sets an incident's category (`custom.category`); responders can change it. The
categories follow the threats Custody exists for, so reports and queues can be read by
kind across rules.
"""

from __future__ import annotations

import enum


class Category(enum.StrEnum):
    unauthorized_model_access = "unauthorized_model_access"
    exfiltration = "exfiltration"  # model weights or data
    privilege_escalation = "privilege_escalation"
    supply_chain = "supply_chain"  # tampered model artifacts or dependencies
    data_poisoning = "data_poisoning"  # training or retrieval data
    prompt_injection = "prompt_injection"  # and jailbreaks
    agent_misuse = "agent_misuse"
    logging_tampering = "logging_tampering"  # logging or guardrails switched off
    abuse = "abuse"  # abuse or cost harvesting
    availability = "availability"
