"""Standards-grade audio analysis: BS.1770-5 loudness and true peak, EBU Tech 3341/3342,
dynamics, stereo, clipping, spectrum, features and score. Streaming, constant memory."""
