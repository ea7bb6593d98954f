"""wirewatch: news ingestion and monitoring crawler."""

__version__ = "0.1.0"
