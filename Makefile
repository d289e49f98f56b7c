# The project's verbs. `make demo` and `make test` are the two commands a
# fresh machine needs (see README.md); .ci/run calls `make test`.

GO ?= go
SHARDS ?= 2
REPLICAS ?= 1
# The PostgreSQL image the harness runs; `make image` builds the default one.
# PGSHARD_PG_IMAGE=postgres:15 uses the official image where a registry is reachable.
PGSHARD_PG_IMAGE ?= pgshard.local/postgres:15
export PGSHARD_PG_IMAGE
# Ryuk (testcontainers' reaper) cannot be pulled without a registry; the
# harness and `make sweep` clean up instead. Must be exactly "true".
export TESTCONTAINERS_RYUK_DISABLED ?= true

.PHONY: image demo test vet sweep

# Builds pgshard.local/postgres:15 from Debian's packages, only when its
# recipe changed. Nothing to build when another image was chosen.
image:
	@case "$(PGSHARD_PG_IMAGE)" in \
	  pgshard.local/postgres:*) PG_MAJOR=$${PGSHARD_PG_IMAGE##*:} IMAGE=$(PGSHARD_PG_IMAGE) images/postgres/build.sh ;; \
	  *) echo "using $(PGSHARD_PG_IMAGE); nothing to build" ;; \
	esac

# Built, not `go run`: make forwards SIGTERM to a direct child, and go run
# would die without passing it on, leaving the cluster behind.
demo: image
	@$(GO) build -o .bin/pgshard-demo ./cmd/pgshard-demo
	@.bin/pgshard-demo --shards $(SHARDS) --replicas $(REPLICAS)

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# The whole suite: static checks, then every package under the race detector,
# integration tests included (they start their clusters in Docker), then the
# allocation check, which needs an uninstrumented build (the race detector
# allocates on its own) and skips itself under -race. The per-package
# timeout catches a hang; it leaves room for slow hosts, where
# integration/sharding alone has taken up to 11 minutes under -race.
test: image vet
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -count=1 -run '^TestCacheHitAllocations$$' ./router/

# Removes containers and networks a killed run left behind.
sweep:
	@ids=$$(docker ps -aq --filter label=pgshard.harness); \
	  if [ -n "$$ids" ]; then docker rm -f -v $$ids >/dev/null && echo "swept containers: $$ids"; fi
	@ids=$$(docker network ls -q --filter label=pgshard.harness); \
	  if [ -n "$$ids" ]; then docker network rm $$ids >/dev/null && echo "swept networks: $$ids"; fi

# Loopback benchmark (not a test): direct PostgreSQL vs PgBouncer vs pgshard
# with pgbench, no Docker; needs root. BENCH_QUICK=1 for a smoke run; the
# knobs and how to read the table are in bench/README.md.
.PHONY: bench
bench: ; bench/run.sh
