"""Console fixtures: a browser-like client (cookies, forms) over the ASGI app."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.auth.schemas import Scope


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Browser:
    """A TestClient that signs in like a person: load the form, post the token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def sign_in(self, token: str) -> Any:
        form = self.client.get("/console/login")
        return self.client.post(
            "/console/login",
            data={"csrf": csrf_of(form.text), "token": token, "next": "/console/"},
            follow_redirects=False,
        )

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post_form(self, page_url: str, action: str, data: dict[str, str], **kw: Any) -> Any:
        """Post a form found on `page_url` with the page's CSRF token."""
        token = csrf_of(self.client.get(page_url).text)
        return self.client.post(action, data={"csrf": token, **data}, **kw)


@pytest.fixture
def browser_for(app: Any, make_token: Callable[..., str]) -> Iterator[Callable[[Scope], Browser]]:
    clients: list[TestClient] = []

    def make(scope: Scope = Scope.respond) -> Browser:
        c = TestClient(app, raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        b = Browser(c)
        r = b.sign_in(make_token(scope))
        assert r.status_code == 303, r.text
        return b

    yield make
    for c in clients:
        c.__exit__(None, None, None)
