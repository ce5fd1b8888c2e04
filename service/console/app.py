"""Mounting the console on the FastAPI app: its routers, static assets, HTML errors."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.console import explorer, incident, integrity, overview, queue, signin
from service.console.web import HERE, PREFIX, install_errors

ROUTERS = (
    signin.router,
    queue.router,
    incident.router,
    explorer.router,
    integrity.router,
    overview.router,
)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    install_errors(app)
