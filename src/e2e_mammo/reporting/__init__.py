"""Tables and figures of the paper, rebuilt from the pipeline's result files."""
