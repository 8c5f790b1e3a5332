"""What arrives: the folder index, the study model, header and pixel reads, decoding, series selection."""
