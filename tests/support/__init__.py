"""What the tests share: the fixture site and the command (``site``), real servers on
127.0.0.1 (``servers``, ``hostile``), and the daemons and waits of the runtime's tests
(``daemons``). Test modules import from here, never from each other or from conftest."""
