# The client SDK in sdk/python (import name pgml). Included by the Makefile:
#   include sdk/python/sdk.mk
# make sdk-test: our tests and PostgresML SDK 1.1.1's own test.py and stress_test.py, unchanged,
# against a throwaway server on $PGML_TEST_PORT. make sdk-bench: bench/sdk.py (official vs ours).
.PHONY: sdk-test sdk-test-ours sdk-test-official sdk-bench

sdk-test: install
	bash sdk/python/run-tests.sh all

sdk-test-ours: install
	bash sdk/python/run-tests.sh ours

sdk-test-official: install
	bash sdk/python/run-tests.sh official

sdk-bench: install
	BENCH=bench/sdk.py bash scripts/run-bench.sh
