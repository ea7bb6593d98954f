"""Several machines' crawl workers, coordinated through Redis (``[cluster]``).

The monitor stays the one scheduler and the one writer of the SQLite file. Redis carries:

- ``wirewatch:runs``, a stream of due runs read by the workers' consumer group. A worker
  acknowledges a run only once its outcome is on the results stream; a run held by a worker
  that died is claimed by another after ``[cluster] claim_after`` (XAUTOCLAIM). A worker
  holding a long run touches it (XCLAIM to itself) so that it is not taken from under it.
- ``wirewatch:results``, a stream of the workers' extracted articles (in batches) and of each
  run's outcome, read by the monitor, which stores the articles and raises their alerts as on
  one machine, then acknowledges each message only after its commit. Storing is idempotent, so
  at-least-once delivery gives each article and alert once.
- the crawl state the workers read: the known URL keys with their first-seen time and each
  feed's validators, written by the monitor after it commits and rebuilt from SQLite when Redis
  comes back empty; per-site locks, so two machines never crawl one site at once; and each
  worker's heartbeat, for ``wirewatch status``.

``cluster.bus`` speaks to Redis, ``cluster.crawl`` is the workers' Scrapy side and
``cluster.home`` the monitor's.
"""
