"""The daemon's rooms (scheduler.py is the daemon): its settings (``config``), the schedule
(``planning``), where runs crawl (``backends``) and how each run is settled (``outcomes``)."""
