"""The dataset build as plain library functions: prepare (with the run's identity), one shard,
finalize, and the one executor that sequences them (`executor.run_build`). Prefect (flows/) and the
CLI are adapters."""
