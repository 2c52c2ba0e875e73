# The README's two commands: `make build` and `make test`.
GO ?= go
CKUBELET_FLAGS ?=
SHELL := /bin/bash

.PHONY: build test unit integration setup vet

build: setup
	$(GO) run ./cmd/ckubelet build $(CKUBELET_FLAGS)

# The whole suite: vet, unit tests, then the integration tests that build real images and run
# them with containerd/runc and qemu-user. Missing containerd fails instead of skipping.
test: setup vet unit integration

setup:
	hack/setup.sh

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

unit:
	$(GO) test -count=1 ./...

integration:
	CKUBELET_REQUIRE_CONTAINERD=1 $(GO) test -count=1 -timeout 80m -tags integration -v ./...
