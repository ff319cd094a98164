"""`create_app(settings)`: the whole server as one ASGI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import Depends, FastAPI
from sqlalchemy import text

from teamgate import __version__
from teamgate.auth.authenticator import Authenticator
from teamgate.auth.oidc import OidcConfig, OidcVerifier, Provider
from teamgate.auth.throttle import throttle_from_settings
from teamgate.auth.tokens import TokenService
from teamgate.services import audit, orphans
from teamgate.services.context import ServiceContext
from teamgate.services.lost_jobs import LostJobSettings, LostJobSweeper
from teamgate.settings import Settings
from teamgate.storage.blobs import FilesystemBlobStore, open_blob_store
from teamgate.storage.db.engine import Database, database_url
from teamgate.web import (
    abilities_api,
    audit_api,
    auth_config_api,
    errors,
    metrics,
    slurm_api,
    taco_api,
    tokens_api,
    torc_api,
    ui,
    units_api,
)
from teamgate.web.jobs_api import router as jobs_router
from teamgate.web.limits import BodySizeLimit
from teamgate.web.lost_jobs_api import router as lost_jobs_router
from teamgate.web.observe import RequestObserver
from teamgate.web.run_records_api import router as run_records_router
from teamgate.web.text import check_parameters

log = logging.getLogger("teamgate.server")


def build_authenticator(
    settings: Settings, db: Database, *, on_lookup: Callable[[bool], None] | None = None
) -> Authenticator:
    """The authenticator `settings` ask for: tokens checked in `db`, lockouts audited there,
    ID tokens checked against the OIDC issuer when one is set."""
    config = OidcConfig.from_settings(settings)
    oidc = None
    if config is not None:
        oidc = OidcVerifier(config, Provider(config), admin_users=settings.admin_users)
    return Authenticator(
        auth_file=Path(settings.auth_file) if settings.auth_file else None,
        require_auth=settings.require_auth,
        cache_ttl_secs=settings.credential_cache_ttl_secs,
        admin_users=settings.admin_users,
        reload_interval_secs=settings.htpasswd_reload_secs,
        throttle=throttle_from_settings(settings, on_lockout=partial(audit.record_lockout, db)),
        tokens=TokenService(db),
        on_lookup=on_lookup,
        oidc=oidc,
    )


def open_database(settings: Settings) -> Database:
    return Database(
        database_url(settings.database_location),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    migrate: bool = True,
    metrics_dir: str | None = None,
) -> FastAPI:
    """Build the application; opens (and migrates) the database, loads the htpasswd file.

    Worker processes pass `migrate=False` (the parent migrated once) and the directory where
    the workers' metrics are gathered (`metrics_dir`).
    """
    db = database or open_database(settings)
    if migrate:
        db.migrate()
    found = metrics.Metrics(multiprocess_dir=metrics_dir) if settings.metrics else None
    auth = build_authenticator(settings, db, on_lookup=found.credential_lookup if found else None)
    pruner = audit.Pruner(db, retention_days=settings.audit_retention_days)
    lost_jobs = LostJobSettings(
        settings.heartbeat_timeout_secs,
        settings.lost_job_policy,
        max_attempts=settings.lost_job_max_attempts,
    )
    lost = LostJobSweeper(db, lost_jobs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        auth.start_watching()
        pruner.start()  # prunes once before the first request, then every hour
        sweeper.start()  # the same for blobs a crash left unreferenced
        lost.start()  # runners silent too long: their jobs recovered, then every interval
        try:
            yield
        finally:
            lost.stop()
            sweeper.stop()
            pruner.stop()
            auth.stop_watching()
            db.dispose()

    app = FastAPI(
        title="teamgate",
        version=__version__,
        description="Team access control for shared workflows and Terraform state "
        "(Torc- and OpenTaco-compatible).",
        lifespan=lifespan,
        dependencies=[Depends(check_parameters)],
    )
    app.state.settings = settings
    app.state.database = db
    app.state.authenticator = auth
    app.state.lost_jobs = lost_jobs
    blobs = open_blob_store(settings.blob_store, default_dir=settings.blob_location)
    if isinstance(blobs, FilesystemBlobStore):  # a crash may have left temp files behind
        blobs.remove_abandoned_temp_files()
    app.state.context = ServiceContext(
        db=db,
        blobs=blobs,
        max_versions=settings.max_versions,
        enforce=settings.enforce_access_control,
        admin_users=frozenset(settings.admin_users),
        admin_groups=frozenset(settings.oidc_admin_groups if settings.oidc_issuer else ()),
    )
    errors.install(app)
    app.include_router(torc_api.router)
    app.include_router(jobs_router)  # jobs, results and running workflows
    app.include_router(taco_api.router)
    app.include_router(tokens_api.router)
    app.include_router(auth_config_api.router)  # public: how to sign in
    app.include_router(units_api.router)
    app.include_router(audit_api.router)
    app.include_router(run_records_router)
    app.include_router(lost_jobs_router)  # heartbeats, sync_status
    app.include_router(slurm_api.router)
    app.include_router(abilities_api.router)  # what the caller may do, asked in advance

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    if settings.ui:
        ui.install(app)  # the web console under /ui/
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        large_prefixes=("/v1/state/", "/v1/backend/"),
        large_max_bytes=settings.max_state_bytes,
    )
    _install_observation(app, settings, found)
    sweeper = orphans.Sweeper(db, blobs, on_removed=found.orphan_blobs_removed if found else None)
    return app


def _install_observation(app: FastAPI, settings: Settings, found: metrics.Metrics | None) -> None:
    """/metrics (unless turned off) and the outermost middleware: metrics and access log."""
    if found is not None:
        metrics.install(app, found, public=settings.public_metrics)
    app.state.metrics = found
    app.add_middleware(RequestObserver, metrics=found)
