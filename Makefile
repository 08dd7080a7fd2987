# nfmeter — NFStream-compatible flow meter.
# A Go toolchain new enough for go.mod (installed on first use if missing).
GO       ?= $(shell ./scripts/ensure-go.sh)
PKGS     ?= ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/nfmeter
FUZZTIME ?= 30s
BENCH_PACKETS ?= 5000000

# BPF objects (make generate): compiler and flags are pinned so that the
# committed outputs in userspace/bpfobj are reproducible.
CLANG      ?= clang-19
LLVM_STRIP ?= llvm-strip-19
BPF_CFLAGS := -O2 -g -Wall -Werror -mcpu=v3

# Formatters (make fmt, checked by make lint): gofmt of the toolchain in use,
# and clang-format pinned like clang so that its output does not drift.
GOFMT        ?= $(shell $(GO) env GOROOT)/bin/gofmt
CLANG_FORMAT ?= clang-format-19
BPF_SOURCES  := $(wildcard bpf/*.c bpf/*.h)

# System packages the build and the tests need (Debian 12 / Ubuntu names).
APT_PACKAGES := build-essential pkg-config libpcap-dev libndpi-dev tcpdump iproute2 \
	clang-19 llvm-19 libbpf-dev linux-libc-dev clang-format-19

.DEFAULT_GOAL := help

##@ General
.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	/^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } \
	/^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the system packages the build needs (apt, as root or with sudo).
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "installing:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@echo "go: $(GO)"

##@ Build
.PHONY: build
build: deps ## Build bin/nfmeter.
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/nfmeter

.PHONY: demo
demo: build ## Meter the shipped sample capture and show the first flows.
	./$(BIN) --pcap testdata/demo.pcap -o testdata/demo.pcap.csv --statistical-analysis --splt-analysis 10 --progress never
	@echo "--- first lines of testdata/demo.pcap.csv ---"
	@head -n 4 testdata/demo.pcap.csv | cut -c1-240

.PHONY: generate
generate: deps ## Rebuild the BPF objects in bpf/ and their Go bindings (userspace/bpfobj).
	BPF2GO_CC=$(CLANG) BPF2GO_STRIP=$(LLVM_STRIP) BPF2GO_CFLAGS="$(BPF_CFLAGS)" $(GO) generate ./

.PHONY: check-generate
check-generate: generate ## Fail when the committed BPF outputs differ from bpf/ sources.
	@if [ -n "$$(git status --porcelain -- userspace/bpfobj)" ]; then \
	  git status --short -- userspace/bpfobj; \
	  echo "userspace/bpfobj is stale: run make generate and commit the result"; exit 1; fi

##@ Test
.PHONY: test
test: deps ## Run make lint and every test (conformance included when ../shared/conformance exists).
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory check-generate
	$(GO) test -race -count=1 -timeout 60m $(PKGS)
	CGO_ENABLED=0 $(GO) build ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s).
	@set -e; for spec in $$(grep -rEo '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/func //'); do \
	  pkg=$$(dirname $${spec%%:*}); fn=$${spec##*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/nfmeter-fuzz.log 2>&1 || { cat /tmp/nfmeter-fuzz.log; exit 1; }; \
	done

.PHONY: bench
bench: deps ## Generate a large capture and report packets/s, RSS and bytes per flow (docs/PERFORMANCE.md).
	$(GO) run ./scripts/bench -packets $(BENCH_PACKETS)
	@echo "--- kernel path: XDP program cost (BPF_PROG_TEST_RUN), needs root ---"
	$(GO) test -count=1 -run '^$$' -bench 'BenchmarkXDP' -benchtime 3000000x ./userspace/kmeter
	@echo "--- live modes end to end through a veth pair, needs root ---"
	NFMETER_BENCH_LIVE=1 $(GO) test -count=1 -run 'TestLiveThroughput$$' -v ./cmd/nfmeter | grep -oE '\|.*\|$$'

.PHONY: lint
lint: deps ## Check gofmt, go vet, staticcheck, clang-format of bpf/ and that go mod tidy changes nothing.
	@out=$$($(GOFMT) -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "$$out"; echo "gofmt: run make fmt"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	@$(CLANG_FORMAT) --dry-run --Werror $(BPF_SOURCES) || { echo "clang-format: run make fmt"; exit 1; }
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

.PHONY: fmt
fmt: ## Format the Go files (gofmt) and the BPF C in bpf/ (clang-format, style in bpf/.clang-format).
	$(GOFMT) -w $$(git ls-files '*.go')
	$(CLANG_FORMAT) -i $(BPF_SOURCES)

.PHONY: clean
clean: ## Remove build outputs.
	rm -rf bin testdata/demo.pcap.csv
