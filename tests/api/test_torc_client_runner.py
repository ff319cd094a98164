"""A whole workflow driven through the published client (torc-client 0.35.0), in process, the
way a job runner drives it: requirements and jobs with dependencies, initialise, claim by
resources, start, complete with results, read the status. The same calls from an outsider are
refused (403) and change nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from torc.openapi_client import (
    ApiClient,
    ComputeNodeModel,
    ComputeNodesApi,
    ComputeNodesResources,
    Configuration,
    JobModel,
    JobsApi,
    JobsModel,
    JobStatus,
    ResourceRequirementsApi,
    ResourceRequirementsModel,
    ResultModel,
    ResultsApi,
    WorkflowModel,
    WorkflowsApi,
)
from torc.openapi_client.exceptions import ForbiddenException

from tests.conftest import password_of
from tests.inprocess import App, PoolManager


@dataclass(frozen=True)
class Client:
    workflows: WorkflowsApi
    jobs: JobsApi
    requirements: ResourceRequirementsApi
    nodes: ComputeNodesApi
    results: ResultsApi


def connect(app: App, user: str) -> Client:
    config = Configuration(host=app.torc_url)
    config.username, config.password = user, password_of(user)
    api = ApiClient(config)
    api.rest_client.pool_manager = PoolManager(app)
    # torc-client sends no credentials by itself: set the header (as tests/api/test_torc_client.py)
    api.set_default_header("Authorization", config.get_basic_auth_token())  # type: ignore[no-untyped-call]
    return Client(
        WorkflowsApi(api),
        JobsApi(api),
        ResourceRequirementsApi(api),
        ComputeNodesApi(api),
        ResultsApi(api),
    )


def _node(workflow_id: int) -> ComputeNodeModel:
    return ComputeNodeModel(
        workflow_id=workflow_id,
        hostname="runner-host",
        pid=4242,
        start_time="2026-01-01T00:00:00.000Z",
        num_cpus=4,
        memory_gb=8.0,
        num_gpus=0,
        num_nodes=1,
        compute_node_type="local",
        is_active=True,
    )


def _resources(node_id: int) -> ComputeNodesResources:
    return ComputeNodesResources(id=node_id, num_cpus=4, memory_gb=8.0, num_gpus=0, num_nodes=1)


@pytest.fixture
def owner(secured_app: App) -> Client:
    return connect(secured_app, "bob")


def test_a_runner_drives_a_workflow_to_completion(owner: Client) -> None:
    wf = owner.workflows.create_workflow(WorkflowModel(name="client-run", user="bob"))
    assert wf.id is not None
    rr = owner.requirements.create_resource_requirements(
        ResourceRequirementsModel(workflow_id=wf.id, name="small", num_cpus=1, memory="100m")
    )
    first = owner.jobs.create_job(
        JobModel(
            workflow_id=wf.id,
            name="prepare",
            command="echo prepare",
            resource_requirements_id=rr.id,
        )
    )
    made = owner.jobs.create_jobs(
        JobsModel(
            jobs=[
                JobModel(
                    workflow_id=wf.id,
                    name=f"work{i}",
                    command="echo work",
                    depends_on_job_ids=[first.id],
                    resource_requirements_id=rr.id,
                )
                for i in range(3)
            ]
        )
    )
    assert made.jobs is not None and len(made.jobs) == 3
    assert all(j.status == JobStatus.UNINITIALIZED for j in made.jobs)
    assert owner.workflows.is_workflow_uninitialized(wf.id).is_uninitialized
    owner.workflows.initialize_jobs(wf.id)
    node = owner.nodes.create_compute_node(_node(wf.id))
    assert node.id is not None
    ran: list[str] = []
    while True:
        claimed = owner.workflows.claim_jobs_based_on_resources(wf.id, 4, _resources(node.id))
        if not claimed.jobs:
            break
        for job in claimed.jobs:
            assert job.id is not None and job.status == JobStatus.PENDING
            started = owner.jobs.start_job(job.id, 1, node.id)
            assert started.status == JobStatus.RUNNING
            done = owner.jobs.complete_job(
                job.id,
                JobStatus.COMPLETED,
                1,
                ResultModel(
                    job_id=job.id,
                    workflow_id=wf.id,
                    run_id=1,
                    compute_node_id=node.id,
                    return_code=0,
                    exec_time_minutes=0.5,
                    completion_time="2026-01-01T00:00:30.000Z",
                    status=JobStatus.COMPLETED,
                    peak_memory_bytes=1024,
                    peak_cpu_percent=12.5,
                ),
            )
            assert done.status == JobStatus.COMPLETED
            ran.append(job.name)
    assert ran[0] == "prepare" and sorted(ran[1:]) == ["work0", "work1", "work2"]
    status = owner.workflows.get_workflow_status(wf.id)
    assert status.is_complete and status.total_jobs == 4
    assert status.jobs_by_status.completed == 4
    assert owner.workflows.is_workflow_complete(wf.id).is_complete
    results = owner.results.list_results(wf.id)
    assert results.total_count == 4
    assert {r.job_name for r in results.items} == set(ran)
    assert owner.results.get_result(results.items[0].id).peak_memory_bytes == 1024
    listed = owner.jobs.list_jobs(wf.id, status=JobStatus.COMPLETED)
    assert listed.total_count == 4
    deps = owner.workflows.list_job_dependencies(wf.id)
    assert deps.total_count == 3


def test_an_outsider_is_refused_and_changes_nothing(secured_app: App, owner: Client) -> None:
    wf = owner.workflows.create_workflow(WorkflowModel(name="client-private", user="bob"))
    assert wf.id is not None
    job = owner.jobs.create_job(JobModel(workflow_id=wf.id, name="only", command="true"))
    owner.workflows.initialize_jobs(wf.id)
    node = owner.nodes.create_compute_node(_node(wf.id))
    assert job.id is not None and node.id is not None
    outsider = connect(secured_app, "dave")
    result = ResultModel(
        job_id=job.id,
        workflow_id=wf.id,
        run_id=1,
        compute_node_id=node.id,
        return_code=0,
        exec_time_minutes=0.1,
        completion_time="2026-01-01T00:00:01.000Z",
        status=JobStatus.COMPLETED,
    )
    calls = [
        lambda: outsider.jobs.create_job(JobModel(workflow_id=wf.id, name="x", command="true")),
        lambda: outsider.jobs.list_jobs(wf.id),
        lambda: outsider.jobs.get_job(job.id),
        lambda: outsider.workflows.initialize_jobs(wf.id),
        lambda: outsider.workflows.claim_jobs_based_on_resources(wf.id, 4, _resources(node.id)),
        lambda: outsider.workflows.claim_next_jobs(wf.id),
        lambda: outsider.jobs.start_job(job.id, 1, node.id),
        lambda: outsider.jobs.complete_job(job.id, JobStatus.COMPLETED, 1, result),
        lambda: outsider.workflows.get_workflow_status(wf.id),
        lambda: outsider.workflows.cancel_workflow(wf.id),
        lambda: outsider.workflows.reset_job_status(wf.id),
        lambda: outsider.results.list_results(wf.id),
        lambda: outsider.jobs.delete_job(job.id),
    ]
    for call in calls:
        with pytest.raises(ForbiddenException):
            call()
    assert owner.jobs.get_job(job.id).status == JobStatus.READY
    assert owner.jobs.list_jobs(wf.id).total_count == 1
    assert not owner.workflows.is_workflow_complete(wf.id).is_canceled
    assert owner.results.list_results(wf.id).total_count == 0
