# qinqbridge — see README.md. `make test` is what CI runs on a fresh machine.
PREFIX     ?= /usr
DESTDIR    ?=
OCFDIR     ?= /usr/lib/ocf/resource.d/qinqbridge
GO         ?= go
GOFLAGS    ?=
# A count of executions, not a duration: Go 1.26's fuzz coordinator can fail
# a target with a bare "context deadline exceeded" when a duration -fuzztime
# expires (golang/go#75804, fixed in Go 1.27); 200000 is ~5-10 s per target.
FUZZTIME   ?= 200000x
LDFLAGS    := -s -w


# Debian packages the tests need (installed by test/vm/deps when missing).
TEST_DEBS := qemu-system-x86 linux-image-amd64 busybox-static iproute2 \
	pacemaker pacemaker-cli-utils corosync crmsh resource-agents libxml2-utils \
	groff-base ethtool pcs xsltproc man-db lintian prometheus

# Packages with kernel tests (files tagged `integration`), run in the VM.
KTEST_PKGS = $(sort $(dir $(shell grep -rl --include='*_test.go' '^//go:build integration' . 2>/dev/null)))

.PHONY: all build test unit fuzz ktest deps lint bench demo e2e pcs-test man completion install deb debtest clean

all: build

# Each binary: name and main package; one not written yet is reported, not built.
BINS := bridgectl:./bridgectl/cmd/bridgectl tcguard:./tcguard/cmd/tcguard \
	ocf-bridge:./ocf/agents/bridge ocf-tcguard:./ocf/agents/tcguard

build:
	@mkdir -p bin
	@for b in $(BINS); do n=$${b%%:*} p=$${b#*:}; \
		if [ -d "$$p" ]; then CGO_ENABLED=0 $(GO) build $(GOFLAGS) -trimpath -ldflags '$(LDFLAGS)' -o bin/.$$n.new $$p && mv -f bin/.$$n.new bin/$$n || exit 1; \
		else echo "build: $$n not written yet ($$p)"; fi; \
	done

deps:
	@test/vm/deps $(TEST_DEBS)

# third_party/ holds copies of upstream code, kept as upstream wrote it (go-tc's
# q_netem.go is not gofmt-clean).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null) | grep -v '^third_party/'); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) vet -tags e2e ./test/e2e/...
	$(GO) vet github.com/florianl/go-tc/...
	@test/netlink-gates

# With the tests of our patches to go-tc (third_party/go-tc/PATCHES.md).
unit:
	$(GO) test $(GOFLAGS) -count=1 ./... github.com/florianl/go-tc/...

# Every parser's fuzz target, briefly (longer: make fuzz FUZZTIME=20000000x).
fuzz:
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | cut -c6-); do \
			echo "fuzz: $$t $$f ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=100x $$t || exit 1; \
		done; \
	done

# Kernel tests: built here, run in one boot of the testbed VM (test/vm/run).
ktest: build
	@mkdir -p bin/ktest
	@bins=""; for p in $(KTEST_PKGS); do \
		n=$$(echo $$p | sed 's|^\./||; s|/$$||; s|/|-|g'); \
		$(GO) test -c -tags integration -o bin/ktest/$$n.test ./$$p || exit 1; \
		bins="$$bins bin/ktest/$$n.test"; \
	done; \
	echo "ktest: running$$bins in the testbed VM"; \
	QB_BIN=$(CURDIR)/bin test/vm/run -m 3072 -- test/run-integration $$bins

test: deps lint unit fuzz pcs-test debtest ktest demo e2e

# Each examples/cluster/NAME.pcs.sh builds what NAME.crm does: both run into
# offline CIB files, checked by crm_verify and compared (test/pcs/run).
pcs-test: build
	@test/pcs/run

bench: build
	@if [ -x test/bench/run ]; then test/bench/run; else echo "bench: not written yet (issues 3 and 4 add test/bench)"; exit 1; fi

demo: build
	@if [ -x examples/demo/run ]; then examples/demo/run; else echo "demo: not written yet (issue 7)"; exit 1; fi

e2e: build
	@if [ -x test/e2e/run ]; then test/e2e/run && test/e2e/run -datapath=tc; else echo "e2e: not written yet (issue 6)"; exit 1; fi

# Man pages and bash completion, printed by the programs themselves from the
# definitions --help and the OCF meta-data come from.
MAN_PAGES := bridgectl.8 tcguard.8 ocf_qinqbridge_bridge.7 ocf_qinqbridge_tcguard.7

man: build
	@mkdir -p bin/man
	bin/bridgectl man >bin/man/bridgectl.8
	bin/tcguard man >bin/man/tcguard.8
	bin/ocf-bridge man >bin/man/ocf_qinqbridge_bridge.7
	bin/ocf-tcguard man >bin/man/ocf_qinqbridge_tcguard.7

completion: build
	@mkdir -p bin/completion
	bin/bridgectl completion bash >bin/completion/bridgectl
	bin/tcguard completion bash >bin/completion/tcguard

install: build man completion
	@for n in bridgectl tcguard; do \
		if [ -x bin/$$n ]; then install -D -m 0755 bin/$$n $(DESTDIR)$(PREFIX)/sbin/$$n; else echo "install: $$n not built yet"; fi; done
	@for a in bridge tcguard; do \
		if [ -x bin/ocf-$$a ]; then install -D -m 0755 bin/ocf-$$a $(DESTDIR)$(OCFDIR)/$$a; else echo "install: agent $$a not built yet"; fi; done
	@for m in $(MAN_PAGES); do \
		install -D -m 0644 bin/man/$$m $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/$$m; done
	@for n in bridgectl tcguard; do \
		install -D -m 0644 bin/completion/$$n $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$n; done

# The Debian package (packaging/deb): bin/qinqbridge_VERSION-1_amd64.deb,
# built by nfpm, a tool dependency in go.mod (`go tool nfpm`), so a fresh
# clone needs nothing installed. Prints the package's path.
deb: build man completion
	@packaging/deb/build

# Builds the package, runs lintian and checks its contents (test/deb/run).
debtest:
	@test/deb/run

clean:
	rm -rf bin
