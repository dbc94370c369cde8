"""What the tests (and the benchmarks) run against: local servers on 127.0.0.1, real daemon
processes, fault-injecting launchers and page builders."""
