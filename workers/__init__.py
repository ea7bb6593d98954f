"""The crawl workers: long-lived Scrapy processes that run outlet crawls as they are told.

- ``protocol``: the messages between the monitor and a worker (the whole contract);
- ``processes``: starting, stopping and watching child processes;
- ``slots``: the per-site slot that keeps two runs of one site from crawling at once;
- ``serve``: the worker's side of the pipe (``wirewatch worker-serve``);
- ``pool``: the monitor's side: a pool of workers on this machine;
- ``cluster``: a worker that takes its runs from Redis (``wirewatch worker``);
- ``supervise``: keeps a machine's cluster workers running, with the pool's backoff.
"""
