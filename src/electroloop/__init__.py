"""electroloop: a self-driving-lab orchestrator for electrolyte and battery-materials discovery."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("electroloop")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
