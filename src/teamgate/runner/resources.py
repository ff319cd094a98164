"""What this machine offers jobs, and what the jobs running on it hold.

The runner tells the server what is still free when it claims (ComputeNodesResources), and takes
each started job's resource requirements out of the pool until the job exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from teamgate.domain.spec_values import memory_bytes
from teamgate.errors import Invalid

GIB = 1 << 30


def parse_memory(text: str) -> int:
    """Bytes in a memory amount as Torc writes it: `512m`, `8g`, `1t`, or plain bytes."""
    try:
        return memory_bytes(text)
    except Invalid as exc:
        raise ValueError(str(exc)) from None


def total_memory_bytes() -> int:
    """Physical memory of this machine."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # not offered by this platform: claim as if 1 GiB
        return GIB


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, as a container or taskset sets it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Need:
    """What one job holds while it runs."""

    num_cpus: int = 1
    memory_bytes: int = 1 << 20
    num_gpus: int = 0

    @classmethod
    def of(cls, requirements: dict[str, object] | None) -> Need:
        """The need described by a ResourceRequirementsModel (Torc's `default`: 1 CPU, 1m)."""
        if not requirements:
            return cls()
        memory = requirements.get("memory") or "1m"
        return cls(
            num_cpus=int(requirements.get("num_cpus") or 0),  # type: ignore[call-overload]
            memory_bytes=parse_memory(str(memory)),
            num_gpus=int(requirements.get("num_gpus") or 0),  # type: ignore[call-overload]
        )


class Pool:
    """The CPUs, memory and GPUs not held by a running job."""

    def __init__(self, *, num_cpus: int, memory_bytes: int, num_gpus: int = 0) -> None:
        self.total = Need(num_cpus, memory_bytes, num_gpus)
        self.free = self.total

    def fits(self, need: Need) -> bool:
        free = self.free
        return (
            need.num_cpus <= free.num_cpus
            and need.memory_bytes <= free.memory_bytes
            and need.num_gpus <= free.num_gpus
        )

    def take(self, need: Need) -> None:
        """Hold `need` for a started job (the server chose it to fit; a job bigger than what is
        left, e.g. one another runner's release let through, drives the pool to zero, not below)."""
        free = self.free
        self.free = Need(
            max(free.num_cpus - need.num_cpus, 0),
            max(free.memory_bytes - need.memory_bytes, 0),
            max(free.num_gpus - need.num_gpus, 0),
        )

    def give(self, need: Need) -> None:
        """Give back what a job that exited held."""
        free, total = self.free, self.total
        self.free = Need(
            min(free.num_cpus + need.num_cpus, total.num_cpus),
            min(free.memory_bytes + need.memory_bytes, total.memory_bytes),
            min(free.num_gpus + need.num_gpus, total.num_gpus),
        )

    def claim_body(self) -> dict[str, object]:
        """The ComputeNodesResources a claim sends: what is free now, on one node."""
        return {
            "num_cpus": self.free.num_cpus,
            "memory_gb": self.free.memory_bytes / GIB,
            "num_gpus": self.free.num_gpus,
            "num_nodes": 1,
        }

    def can_claim(self) -> bool:
        """Whether a claim could return anything: a CPU and some memory are free (as Torc)."""
        return self.free.num_cpus > 0 and self.free.memory_bytes > 0
