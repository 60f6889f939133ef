# Lanyard — the two commands a newcomer needs:
#   make run    build and start Lanyard on its embedded defaults with the demo realm loaded
#   make test   install what the tests need, start their servers, run every test, stop them
.PHONY: run test bench soak cluster cluster-stop faults fuzz build release lint fmt check-config services-start services-stop clean

CARGO ?= cargo

run:
	@bash -c '. scripts/build-deps.sh'
	$(CARGO) run --quiet --bin lanyard -- serve --apply config/demo.toml

test:
	bash scripts/test.sh

# The benchmark kit: Lanyard (embedded, and Redis + PostgreSQL) against node oidc-provider,
# writes docs/benchmarks.md. About 20 minutes on a fresh 2-core machine, builds included.
bench:
	bash scripts/bench.sh

# The long soak: 30 minutes at ~80 % of capacity on the embedded set-up (BENCH_SOAK_SECONDS to
# change it); its figures join docs/benchmarks.md.
soak:
	bash scripts/bench.sh --soak

# A local cluster on loopback: PostgreSQL, Redis, two lanyard nodes and HAProxy in front
# (http://127.0.0.1:8090 unless CLUSTER_PORT says otherwise), with the demo realm.
cluster:
	bash scripts/cluster.sh start

cluster-stop:
	bash scripts/cluster.sh stop

# The fault suite on that cluster: 10-second Redis and PostgreSQL outages and a node killed with
# SIGKILL under load; fails on any answer but success or 503 and on any lost refresh family.
faults:
	bash scripts/cluster.sh faults

# Every parser that reads untrusted input under libFuzzer (cargo-fuzz), FUZZ_SECONDS each
# (default 600), two at a time; fails on any crash, hang or unbounded allocation. make test
# replays the seeds and mutations of them for a few seconds per target.
fuzz:
	bash scripts/fuzz.sh

build:
	$(CARGO) build --bin lanyard

release:
	$(CARGO) build --release --bin lanyard

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

check-config:
	$(CARGO) run --quiet --bin lanyard -- check-config

services-start:
	bash scripts/test-services.sh start

services-stop:
	bash scripts/test-services.sh stop

clean:
	$(CARGO) clean
	rm -rf data .test-services
