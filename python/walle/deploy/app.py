"""The ASGI application of the deployment service (FastAPI, served by uvicorn)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse

from . import api_bundles, api_device, api_publisher
from .auth import Auth
from .blobs import BlobStore
from .config import ServerConfig
from .db import Database
from .errors import (
    AuthError,
    BundleError,
    ConflictError,
    DeployError,
    NotFoundError,
    PolicyError,
    SignatureError,
)
from .metrics import CONTENT_TYPE, exposition
from .policy import describe_errors
from .rollout import Rollout
from .signing import Verifier, load_private_key, public_key_b64
from .store import Store

log = logging.getLogger("walle.deploy.app")
_STATUS = {AuthError: 401, NotFoundError: 404, ConflictError: 409, BundleError: 422,
           SignatureError: 422, PolicyError: 422}
_PAGE = Path(__file__).with_name("operator.html")


def create_app(config: ServerConfig) -> FastAPI:
    """Build the service for ``config``; the database is opened when it starts."""
    db = Database(config.db_url)
    store = Store(db)
    key = load_private_key(config.signing_key) if config.signing_key else None
    trusted = list(config.publisher_keys) + ([public_key_b64(key)] if key else [])
    rollout = Rollout(store, BlobStore(Path(config.data_dir) / "blobs"), Verifier(trusted),
                      key, config.bundle_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.create()
        rollout.writer.start()
        rollout.bus.start()
        ticker = asyncio.create_task(_schedule(rollout, config.tick_s), name="stage-scheduler")
        try:
            yield
        finally:
            ticker.cancel()
            await rollout.bus.stop()
            await rollout.writer.stop()
            await db.close()

    app = FastAPI(title="Walle deploy", version="1", lifespan=lifespan,
                  description="Task registry, signed bundles, staged deployments, devices.")
    app.state.config, app.state.store, app.state.rollout = config, store, rollout
    app.state.blobs, app.state.auth = rollout.blobs, Auth(store, config.publisher_tokens,
                                                           config.enroll_tokens)
    app.state.metrics = Counter()
    rollout.bus.on_devices = app.state.auth.forget
    app.include_router(api_publisher.router)
    app.include_router(api_device.router)
    app.include_router(api_bundles.router)

    @app.exception_handler(DeployError)
    async def _deploy_error(_: Request, exc: DeployError) -> JSONResponse:
        status = next((s for t, s in _STATUS.items() if isinstance(exc, t)), 400)
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # one line naming each bad field, e.g. "policy.regions: Input should be a valid list"
        return JSONResponse({"error": "ValidationError", "detail": describe_errors(exc.errors())},
                            422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug still answers what went wrong (and is logged with its traceback)
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "InternalError",
                             "detail": f"internal error: {type(exc).__name__}: {exc}"}, 500)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, object]:
        """Liveness probe."""
        return {"ok": True, "connected": len(rollout.hub)}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def prometheus(request: Request) -> PlainTextResponse:
        """Prometheus metrics (publisher token: ``authorization: credentials: <token>``)."""
        app.state.auth.publisher(request.headers.get("authorization"))
        return PlainTextResponse(await exposition(app.state), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui")

    @app.get("/ui", response_class=HTMLResponse, tags=["ops"])
    async def operator_page() -> str:
        """The operator page (it reads the API with a publisher token)."""
        return _PAGE.read_text()

    return app


async def _schedule(rollout: Rollout, period: float) -> None:
    # Timed stage advances; state is in the database, so a restart resumes the clock.
    while True:
        await asyncio.sleep(period)
        try:
            await rollout.tick()
        except Exception:
            log.exception("stage scheduler tick failed")
