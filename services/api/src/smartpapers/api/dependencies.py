"""FastAPI dependencies: the lifespan's services, typed with ``Annotated``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from smartpapers.api.services import Services
from smartpapers.api.settings import Settings
from smartpapers.common.papers import PaperCache
from smartpapers.common.repositories import JobRepository, PaperRepository


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_jobs(services: ServicesDep) -> JobRepository:
    return services.jobs


def get_papers(services: ServicesDep) -> PaperRepository:
    return services.papers


def get_paper_cache(services: ServicesDep) -> PaperCache:
    return services.paper_cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[JobRepository, Depends(get_jobs)]
PapersDep = Annotated[PaperRepository, Depends(get_papers)]
PaperCacheDep = Annotated[PaperCache, Depends(get_paper_cache)]
