"""The benchmark: a synthetic dataset per scale, one uvicorn process, wrk on loopback (`python -m bench.run`)."""
