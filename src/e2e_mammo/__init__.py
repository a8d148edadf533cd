"""e2e-mammo: end-to-end all-convolutional mammogram classification (Shen et al. 2019)."""

__version__ = "0.1.0"
