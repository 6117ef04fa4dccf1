"""Audio formats, channel layouts and decoding to float frames."""
