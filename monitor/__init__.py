"""The monitor's rooms beside the daemon (scheduler.py): its settings, light to import."""
