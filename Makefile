# The README's two commands: `make build` and `make test`.
GO ?= go
CKUBELET_FLAGS ?=
SHELL := /bin/bash

.PHONY: build test unit integration platforms setup vet docs bench e2e conformance conformance-ci node-vm node-vm-ci

build: setup
	$(GO) run ./cmd/ckubelet build $(CKUBELET_FLAGS)

# The whole suite: vet, unit tests, the integration tests that build real images and run them
# with containerd/runc and qemu-user, the end-to-end test of a containerized kubelet in a real
# cluster, CI's subset of upstream's node conformance specs, and the VM node with containerd.
# CI (.ci/run) sets CKUBELET_REQUIRE_TOOLS=1 and CKUBELET_REQUIRE_KVM=1, which turn every "tool
# not installed" skip into a failure.
test: setup vet unit integration e2e conformance-ci node-vm-ci

setup:
	hack/setup.sh

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) vet -tags e2e ./test/e2e/
	$(GO) vet -tags conformance ./test/e2e/
	$(GO) vet -tags vm ./test/e2e/
	$(GO) vet -tags integration,platforms ./internal/build/

unit:
	$(GO) test -count=1 ./...

integration:
	$(GO) test -count=1 -timeout 80m -tags integration -v ./...

# The smoke test of the opt-in platforms, linux/ppc64le and linux/s390x: kubelet and iptables
# under qemu-user. Not in make test: two more kubelets to compile.
platforms: setup
	$(GO) test -count=1 -timeout 60m -tags integration,platforms -run 'TestOptInPlatforms$$' -v ./internal/build/

# Regenerates the README's size section and docs/sizes.svg from a real build of every image of
# DOCS_VERSION (default: the original project's last release, to compare with its table, and
# the release the size targets are set on).
DOCS_VERSION ?= v1.26.0,v1.37.2
docs: setup
	$(GO) run ./cmd/ckubelet build --kubernetes-version $(DOCS_VERSION) --flavor all --output oci:out/docs $(CKUBELET_FLAGS)
	$(GO) run ./cmd/ckubelet sizes --layers --output oci:out/docs --update-readme README.md --chart docs/sizes.svg

# Full matrix for v1.26.0 and the newest release, cold and warm, and a patch upgrade; writes
# docs/benchmarks.md. Took 46 min on 2 cores (2026-11-28). BENCH_FLAGS=-versions= measures only the upgrade again.
bench: setup
	$(GO) run ./hack/bench -out docs/benchmarks.md $(BENCH_FLAGS)

# A control plane and a containerized kubelet from our images on this machine (amd64, root).
e2e: setup
	$(GO) test -count=1 -timeout 60m -tags e2e -v ./test/e2e/

# Upstream's [NodeConformance] specs against a containerized kubelet from our images, joined with
# ckubelet join and then started by ckubelet run alone; reports in out/conformance/, results in
# docs/conformance.md. CONFORMANCE_FLAGS passes go test flags; CKUBELET_CONFORMANCE_FOCUS runs a
# subset (see the README).
conformance: setup
	$(GO) test -count=1 -timeout 5h -tags conformance -run 'TestConformance$$' -v ./test/e2e/ $(CONFORMANCE_FLAGS)
	$(GO) run ./hack/conformance-docs

# The named subset of the conformance selection CI runs (test/e2e/selection_test.go, the README).
conformance-ci: setup
	CKUBELET_CONFORMANCE_SUBSET=ci $(GO) test -count=1 -timeout 2h -tags conformance -run 'TestConformance$$' -v ./test/e2e/ $(CONFORMANCE_FLAGS)

# A Debian trixie VM with systemd, cgroup v2 and a read-only /usr; ckubelet run --runtime systemd
# with each engine the OS ships (CKUBELET_VM_ENGINES=containerd,docker,podman picks), through
# reboots and an upgrade. See internal/vmtest.
node-vm: setup
	$(GO) test -count=1 -timeout 4h -tags vm -run 'TestVMNode$$' -v ./test/e2e/ $(VM_FLAGS)

# What make test runs of it.
node-vm-ci: setup
	CKUBELET_VM_ENGINES=$${CKUBELET_VM_ENGINES:-containerd} $(GO) test -count=1 -timeout 2h -tags vm -run 'TestVMNode$$' -v ./test/e2e/ $(VM_FLAGS)
