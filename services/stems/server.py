"""Wires the stems servicer into the shared server runtime.

Health turns SERVING once the DSP backend has run once (`ready`: it loads or compiles its
numba kernels, about 2 s the first time, so no caller waits for that). Demucs and Whisper
models load (checksums first) on the first call that asks for them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
from prometheus_client import CollectorRegistry

from services.common.server import ServiceRuntime
from services.stems.servicer import StemsMetrics, StemsServicer
from services.stems.settings import StemsServiceSettings
from voidline.stems.separation import SeparatorCatalog
from voidline.v1 import stems_pb2, stems_pb2_grpc

SERVICE_NAME: str = stems_pb2.DESCRIPTOR.services_by_name["StemsService"].full_name


class StemsRuntime:
    """The runtime plus what the tests need to reach."""

    def __init__(
        self, settings: StemsServiceSettings, registry: CollectorRegistry | None = None
    ) -> None:
        import torch

        registry = registry if registry is not None else CollectorRegistry()
        # Process-wide: one intra-op thread measured faster than two on 2 cores.
        torch.set_num_threads(settings.torch_threads)
        self.settings = settings
        self.catalog = SeparatorCatalog(
            Path(settings.model_dir).expanduser(),
            default_model=settings.default_separation_model,
        )
        servicer = StemsServicer(settings, self.catalog, StemsMetrics(registry))

        def register(server: grpc.aio.Server) -> None:
            stems_pb2_grpc.add_StemsServiceServicer_to_server(servicer, server)

        self.runtime = ServiceRuntime(
            settings,
            name="stems",
            service_names=[SERVICE_NAME],
            register=register,
            registry=registry,
        )

    async def ready(self) -> None:
        """Run the DSP separator once on a short silence (compiles or loads its kernels)."""
        await asyncio.to_thread(_warm_up_dsp)


def _warm_up_dsp() -> None:
    from voidline.stems.dsp_separator import DspSeparator

    DspSeparator(44_100).separate_segment(np.zeros((4_410, 2), dtype=np.float32))
