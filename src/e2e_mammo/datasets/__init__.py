"""What is true of one dataset: CBIS-DDSM and INbreast indexers, and the synthetic generators."""
