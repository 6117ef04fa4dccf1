"""Stem separation (Demucs, or a DSP fallback) and lyric transcription (faster-whisper).

Domain code only: nothing here knows gRPC. services/stems/ is the thin servicer over it.
"""
