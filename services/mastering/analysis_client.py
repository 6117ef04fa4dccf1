"""The before/after analysis through the analysis service over gRPC.

`RemoteAnalyzer` implements the engine's `Analyzer` protocol: it streams the audio as 32-bit
float PCM to voidline.v1.AnalysisService/StreamAnalyze and converts the final report back to
the domain type. It runs in the engine's worker thread, so it uses a blocking channel. An
unreachable or failing analysis service becomes `UnavailableError` (UNAVAILABLE to the
client, who may retry), with the analysis service's own message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
from numpy.typing import NDArray

from services.analysis.convert import report_from_proto
from voidline.analysis.report import AnalysisReport
from voidline.errors import InvalidInputError, UnavailableError
from voidline.v1 import analysis_pb2, analysis_pb2_grpc, audio_pb2

CHUNK_BYTES = 1 << 20  # 1 MiB per message: a few hundred ms of audio, well under the caps


class RemoteAnalyzer:
    """Analyses audio with the analysis service at `address` (HOST:PORT)."""

    def __init__(self, address: str, timeout_s: float) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", 16 * 1024 * 1024),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ],
        )
        self._stub = analysis_pb2_grpc.AnalysisServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def analyze(self, audio: NDArray[np.floating[Any]], fs: int) -> AnalysisReport:
        try:
            responses = self._stub.StreamAnalyze(
                _requests(audio, fs), timeout=self.timeout_s, wait_for_ready=False
            )
            final = None
            for response in responses:
                if response.is_final:
                    final = response.report
        except grpc.RpcError as error:
            code = error.code()
            detail = error.details()
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidInputError(
                    f"the analysis service refused the audio: {detail}"
                ) from None
            raise UnavailableError(
                f"the analysis service at {self.address} did not answer ({code.name}: {detail}); "
                "retry later"
            ) from None
        if final is None:
            raise UnavailableError(f"the analysis service at {self.address} sent no report")
        return report_from_proto(final)


def _requests(
    audio: NDArray[np.floating[Any]], fs: int
) -> Iterator[analysis_pb2.StreamAnalyzeRequest]:
    yield analysis_pb2.StreamAnalyzeRequest(
        config=analysis_pb2.AnalysisConfig(
            format=audio_pb2.AudioFormat(
                encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE,
                sample_rate_hz=fs,
                channel_count=audio.shape[1],
            )
        )
    )
    pcm = np.ascontiguousarray(audio, dtype="<f4")
    frames_per_chunk = max(CHUNK_BYTES // pcm[:1].nbytes, 1)
    for start in range(0, pcm.shape[0], frames_per_chunk):
        chunk = pcm[start : start + frames_per_chunk]
        yield analysis_pb2.StreamAnalyzeRequest(audio=audio_pb2.AudioChunk(data=chunk.tobytes()))
