"""The dataset build as plain library functions: identity, prepare, one shard, finalize, and the
one executor that sequences them (`executor.run_build`). Prefect (flows/) and the CLI are adapters."""
