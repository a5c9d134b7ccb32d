# connbroker: `make run` starts a local broker with its own MariaDB;
# `make test` installs what it needs and runs every Go and Python test.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

BIN      := $(CURDIR)/bin
VENV     := $(CURDIR)/.venv
PY       := $(VENV)/bin/python
RUN_DIR  := $(CURDIR)/.run
LISTEN   ?= 127.0.0.1:7700

# Pinned tools.
BUF_VERSION := v1.75.0
BUF         := $(BIN)/buf-$(BUF_VERSION)
GO_BINS     := connbrokerd connbroker connbroker-pam-check devstack

export GOFLAGS := -buildvcs=false

# Go modules: the server (.), the API stubs (proto) and the Go client
# (clients/go), each with its own go.mod; `go ... ./...` at the root does
# not enter the nested two, so each Go target runs once per module.
GO_MODULES := . proto clients/go
in_modules = for m in $(GO_MODULES); do (cd $$m && $(1)); done

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: system-deps venv matrix-deps java-deps proof-deps ## Install everything the tests and `make run` need

.PHONY: system-deps
system-deps: ## Install MariaDB from Debian's packages if missing
	@scripts/install-deps.sh

# Compatibility matrix drivers outside PyPI (pinned): npm mysql2 and Connector/J.
NODE_CLIENT := clients/node
CONNECTOR_J := 26.10.0

.PHONY: matrix-deps
matrix-deps: $(NODE_CLIENT)/node_modules/.stamp $(BIN)/mysql-connector-j-$(CONNECTOR_J).jar ## Install clients/node's packages (npm ci: mysql2, grpc-js) and Connector/J (Maven) for internal/matrix

$(NODE_CLIENT)/node_modules/.stamp: $(NODE_CLIENT)/package-lock.json
	@cd $(NODE_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(BIN)/mysql-connector-j-$(CONNECTOR_J).jar:
	@mkdir -p $(BIN)
	@mvn -B -q dependency:copy -Dartifact=com.mysql:mysql-connector-j:$(CONNECTOR_J) -DoutputDirectory=$(BIN)

# The preflight proof's (internal/doctortest) and the doctor's driver versions
# that .venv does not pin: installed from PyPI once into .cache/doctor, where
# the tests link them into each app's own virtualenv.
PROOF_PYPI := PyMySQL==1.0.2
PROOF_DIR  := $(CURDIR)/.cache/doctor

.PHONY: proof-deps
proof-deps: venv $(NODE_CLIENT)/node_modules/.stamp $(foreach r,$(PROOF_PYPI),$(PROOF_DIR)/$(subst ==,-,$(r))/.complete) ## Install the pinned driver versions of the preflight proof (PyPI, cached)

$(PROOF_DIR)/%/.complete:
	@rm -rf $(PROOF_DIR)/$*
	@$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --target $(PROOF_DIR)/$* "$(subst -,==,$*)"
	@touch $@

# The Java helper (clients/java): Maven resolves the pinned artifacts
# (grpc-java, protobuf-java, protoc and protoc-gen-grpc-java, Connector/J,
# HikariCP, JUnit) the first time, then builds offline. The build writes
# target/classpath.txt for clients/java's Go integration test.
JAVA_CLIENT  := clients/java
JAVA_SOURCES := $(JAVA_CLIENT)/pom.xml proto/connbroker/v1/broker.proto $(shell find $(JAVA_CLIENT)/src -name '*.java' 2>/dev/null)

.PHONY: java-deps
java-deps: $(JAVA_CLIENT)/target/.deps ## Fetch clients/java's pinned Maven artifacts (first time only)

$(JAVA_CLIENT)/target/.deps: $(JAVA_CLIENT)/pom.xml
	@cd $(JAVA_CLIENT) && mvn -B -q test  # test: Surefire resolves its JUnit provider only when it runs
	@touch $@

.PHONY: java-build
java-build: $(JAVA_CLIENT)/target/.built ## Build clients/java offline (stubs from proto/, classes, test classes, class path)

$(JAVA_CLIENT)/target/.built: $(JAVA_CLIENT)/target/.deps $(JAVA_SOURCES)
	@cd $(JAVA_CLIENT) && mvn -B -q -o test-compile
	@touch $@

.PHONY: java-test
java-test: java-build build ## clients/java's JUnit tests, then its HikariCP tests against the real broker and peers (Go)
	cd $(JAVA_CLIENT) && mvn -B -q -o surefire:test
	go test -count=1 ./$(JAVA_CLIENT)/

.PHONY: venv
venv: $(VENV)/.stamp ## Create .venv with the pinned Python packages

$(VENV)/.stamp: requirements-dev.txt clients/python/pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e clients/python
	@touch $@

$(BUF):
	@mkdir -p $(BIN)
	@echo "installing buf $(BUF_VERSION) (first time only, ~2-3 min)"
	@GOBIN=$(BIN)/.buf go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@mv $(BIN)/.buf/buf $@ && rmdir $(BIN)/.buf

.PHONY: build
build: ## Build the Go binaries into bin/
	@mkdir -p $(BIN)
	@go build -o $(BIN)/connbrokerd ./cmd/connbrokerd
	@go build -o $(BIN)/connbroker ./cmd/connbroker
	@go build -o $(BIN)/connbroker-pam-check ./cmd/connbroker-pam-check
	@go build -o $(BIN)/connbroker-rdslike ./cmd/connbroker-rdslike
	@go build -o $(BIN)/devstack ./internal/cmd/devstack
	@$(call in_modules,go build ./...)

.PHONY: generate
generate: $(BUF) venv ## Regenerate Go and Python stubs from proto/ (offline, pinned) and docs/DRIVERS.md
	@scripts/generate.sh $(BUF) $(PY) .
	@go generate ./broker/driver

.PHONY: check-generated
check-generated: $(BUF) venv ## Fail when the committed stubs differ from a fresh generation
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	scripts/generate.sh $(BUF) $(PY) $$tmp; \
	for f in proto/connbroker/v1/broker.pb.go proto/connbroker/v1/broker_grpc.pb.go proto/connbroker/v1/broker_vtproto.pb.go \
	         clients/python/connbroker/v1/broker_pb2.py clients/python/connbroker/v1/broker_pb2.pyi \
	         clients/python/connbroker/v1/broker_pb2_grpc.py; do \
	  diff -u $$f $$tmp/$$f > /dev/null || { echo "stale generated file: $$f (run make generate)"; diff -u $$f $$tmp/$$f | head -20; exit 1; }; \
	done; echo "generated stubs are fresh"

# `buf breaking` compares proto/ with the API committed on main (read from
# the local git repository: offline). On main itself that is the same proto;
# on a branch it is the change under review. For a checkout without a local
# main branch (a detached CI clone) it falls back to origin/main, then to
# HEAD (said on stderr); BUF_AGAINST overrides it.
HASH := \#
BUF_AGAINST ?= $(shell if git rev-parse -q --verify refs/heads/main >/dev/null; then echo '.git$(HASH)branch=main'; \
  elif git rev-parse -q --verify refs/remotes/origin/main >/dev/null; then echo '.git$(HASH)ref=origin/main'; \
  else echo '.git$(HASH)ref=HEAD'; fi)

.PHONY: lint
lint: $(BUF) ## buf lint, buf breaking against main, gofmt, go vet
	@$(BUF) lint
	@echo "buf breaking against $(BUF_AGAINST)"; $(BUF) breaking --against '$(BUF_AGAINST)'
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@$(call in_modules,go vet ./...)

.PHONY: test
test: deps build check-generated lint go-test py-test node-test java-unit-test ## Install what is needed and run every test (CI runs this)

.PHONY: java-unit-test
java-unit-test: java-build ## clients/java's JUnit tests only (go-test runs its integration tests)
	cd $(JAVA_CLIENT) && mvn -B -q -o surefire:test

.PHONY: go-test
go-test: java-build proof-deps ## Go tests with the race detector (real MariaDB and MySQL-8 peers; clients/java's need java-build, the preflight proof's apps proof-deps)
	$(call in_modules,go test -race -count=1 -timeout 20m ./...)

.PHONY: test-short
test-short: ## Fast tier: go test -short ./... (no database server, venv or node needed; integration tests skip)
	$(call in_modules,go test -short -count=1 -timeout 10m ./...)

.PHONY: py-test
py-test: venv build ## Python client tests against the real broker and MariaDB
	cd clients/python && CONNBROKER_BIN_DIR=$(BIN) $(PY) -m pytest -q

.PHONY: node-test
node-test: matrix-deps build ## Node client resilience and inventory-report tests against the real broker binary (its other tests run inside internal/matrix)
	cd $(NODE_CLIENT) && CONNBROKER_BIN_DIR=$(BIN) node --test resilience-test/ inventory-test/

.PHONY: bench
bench: deps build ## Benchmarks against the targets, one run, printed as a table (see BENCHMARKS.md)
	go run ./internal/cmd/bench -bin $(BIN) -python $(PY)

.PHONY: bench-go
bench-go: ## Go micro-benchmarks (gRPC health vs params, standard vs vtprotobuf codec, BuildAuthToken vs cache hit, 10,000-endpoint config parse and daemon start)
	go test -run '^$$' -bench . -benchmem -count 3 ./server/ ./broker/credential/ ./broker/config/ ./broker/rdshost/ ./cmd/connbrokerd/

.PHONY: image
image: ## Build the container image (buildah, deploy/Dockerfile) and smoke-run it
	@scripts/image.sh

.PHONY: run
run: deps build ## Start a local MariaDB and connbrokerd --dev (callers not identified, loopback only) on $(LISTEN); Ctrl-C stops both
	@mkdir -p $(RUN_DIR)
	@$(BIN)/devstack -dir $(RUN_DIR) -broker-bin $(BIN)/connbrokerd -dev -listen $(LISTEN) -cli-bin $(BIN)/connbroker

.PHONY: clean
clean: ## Remove build output and the local stack's data
	rm -rf $(BIN) $(RUN_DIR)
