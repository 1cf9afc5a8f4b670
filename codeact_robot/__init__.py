"""codeact_robot: plain-language robot commands the CodeAct way (arXiv 2402.01030)."""

__version__ = '0.1.0'
