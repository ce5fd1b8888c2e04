"""Talking to a Custody server: used by client CLI commands, the shipper and Python apps.

from service.client import Client, AuditHandler

with Client("http://127.0.0.1:8000", token) as client:
    client.send([{"time": ..., "source": "gw", "action": "model.invoke"}])

logging.getLogger("audit").addHandler(AuditHandler(url, token, source="gw"))
"""

from service.client.handler import AuditHandler, AuditProcessor, BackgroundShipper
from service.client.retry import GaveUp, Rejected, RetryPolicy, WrongURL
from service.client.sender import Client, SendResult

__all__ = [
    "AuditHandler",
    "AuditProcessor",
    "BackgroundShipper",
    "Client",
    "GaveUp",
    "Rejected",
    "RetryPolicy",
    "SendResult",
    "WrongURL",
]
