"""Load generators: Locust profiles and runner, the side-by-side benchmark (``bench/``), and
the closed-loop load and hostile-input corpus the chaos harness uses."""
