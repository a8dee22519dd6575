"""The dip-bench harness: registry, command line, suites, results, reports, regression check and profiler."""
