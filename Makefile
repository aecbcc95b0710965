# dnstap-sensor. `make demo` runs the sensor on a bundled capture; `make test`
# runs every test (as root it first installs the Debian packages the lab and
# interop tests need).

GO        ?= go
FUZZTIME  ?= 30s
BIN       := bin/sensor
# Debian packages the tests use: real DNS servers writing their own dnstap,
# real dnstap readers reading ours, and the lab tools (namespaces, capture, replay).
DEB_PKGS  := bind9 bind9-dnsutils unbound knot-dnsutils fstrm-bin dnstap-ldns \
             golang-github-dnstap-golang-dnstap-cli tcpdump tshark wireshark-common tcpreplay \
             iproute2 ethtool libpcap-dev dnsperf stunnel4 chromium \
             prometheus curl systemd strace logrotate util-linux debootstrap lintian man-db
# Filter expressions are compiled by libpcap through cgo (see README). Without
# its headers the sensor still builds, with the built-in DNS filter only.
PCAP_TAGS := $(if $(wildcard /usr/include/pcap/pcap.h),,-tags nopcap)
TEST_FLAGS ?= -race -count=1 -timeout 15m

# staticcheck at a pinned version, fetched through the Go module proxy like
# every other dependency (make test fails on any finding).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

FUZZ_PKGS := ./internal/capture ./internal/reassembly ./internal/emit ./internal/merge ./internal/analyze ./bpf

.PHONY: all build demo test unit e2e replay replay-smoke deps bench bench-naive fuzz fuzz-short lint golden clean dist

all: build

build:
	@[ -z "$(PCAP_TAGS)" ] || echo "note: libpcap-dev not installed; building without filter expressions" >&2
	$(GO) build $(PCAP_TAGS) -o $(BIN) ./cmd/sensor

# A bundled capture → a dnstap file → a readable summary.
demo: build
	@mkdir -p out
	@rm -f out/demo.dnstap # the sensor never overwrites a -w file: it would move it aside
	$(BIN) -r testdata/pcaps/dnscap_dns.pcap -w out/demo.dnstap
	@echo "--- first frames of out/demo.dnstap, read back by the sensor:"
	@$(BIN) read out/demo.dnstap | head -n 12

# Release artefacts in $(DIST_DIR): static binaries (pure Go, CGO_ENABLED=0:
# the built-in DNS filter only, as the nopcap tag says; filter expressions
# need the libpcap build) and a .deb per architecture, built with dpkg-deb
# alone (packaging/build-deb.sh). The man page comes from the binary's -h.
DIST_DIR     ?= out/dist
DIST_ARCHES  ?= amd64 arm64
DIST_VERSION ?= 0.1.0~git$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
HOST_ARCH    := $(shell $(GO) env GOARCH)
dist:
	@mkdir -p $(DIST_DIR)
	@# $(sort) also drops a duplicate: the host's binary makes the man page.
	@set -e; for a in $(sort $(DIST_ARCHES) $(HOST_ARCH)); do \
		echo "build $(DIST_DIR)/dnstap-sensor-linux-$$a"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -tags nopcap \
			-ldflags '-s -w -X main.version=$(DIST_VERSION)' -o $(DIST_DIR)/dnstap-sensor-linux-$$a ./cmd/sensor; \
	done
	$(GO) run ./internal/genman -sensor $(DIST_DIR)/dnstap-sensor-linux-$(HOST_ARCH) -version $(DIST_VERSION) > $(DIST_DIR)/dnstap-sensor.1
	@set -e; for a in $(DIST_ARCHES); do \
		packaging/build-deb.sh $$a $(DIST_DIR)/dnstap-sensor-linux-$$a $(DIST_DIR)/dnstap-sensor.1 $(DIST_VERSION) $(DIST_DIR); \
	done

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages: $$missing"; \
			apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
		else \
			echo "not root: lab and interop tests will skip; missing Debian packages: $$missing" >&2; \
		fi; \
	fi

# Unit, golden, fuzz-seed, lab and interop tests. SENSOR_E2E=require (set by CI)
# turns every skip for a missing tool or privilege into a failure.
test: deps
	$(MAKE) --no-print-directory lint
	@# The decoder, the outputs and the file readers build on any OS; live capture is Linux-only.
	GOOS=darwin $(GO) build ./internal/...
	GOOS=freebsd $(GO) build ./internal/...
	$(GO) test $(TEST_FLAGS) ./...
	@# The appliance build: pure Go, no libpcap. The default DNS filter is
	@# checked-in data and must still work; user expressions say they need libpcap.
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/sensor
	SENSOR_PURE_GO_RUN=1 CGO_ENABLED=0 $(GO) test -count=1 ./bpf ./cmd/sensor
	$(MAKE) --no-print-directory fuzz-short
	$(MAKE) --no-print-directory replay-smoke
	@# The README's first command must keep working.
	$(MAKE) --no-print-directory demo >/dev/null 2>&1 || { echo "make demo failed"; exit 1; }
	@test -s out/demo.dnstap && echo "make demo: ok"

# Micro benchmarks (ns/op, allocs/op of every hot function), then the whole
# sensor on synthetic captures of BENCH_N packets (generated once into
# testdata/bench/, git-ignored): msgs/s, msgs per CPU-second, peak RSS.
# The frag and fragflood captures take about 700 MB each at 1M packets.
BENCH_N     ?= 1000000
BENCH_KINDS ?= udp tcp frag synflood fragflood
bench: build
	$(GO) test -p 1 -run='^$$' -bench=. -skip='LiveNext|LiveReplay' -benchmem ./internal/... ./bpf/...
	@# Ring reads need packets injected between timed rounds: a fixed count
	@# keeps the untimed injection from growing with b.N.
	$(GO) test -run='^$$' -bench=LiveNext -benchtime=200000x -benchmem ./internal/capture
	$(GO) build -o bin/benchrun ./internal/synth/benchrun
	@mkdir -p testdata/bench
	@set -e; for k in $(BENCH_KINDS); do \
		f=testdata/bench/$$k-$(BENCH_N).pcap; \
		test -f $$f || $(GO) run ./internal/synth/gencap -kind $$k -n $(BENCH_N) -o $$f; \
		echo "== sensor -r $$f"; \
		bin/benchrun -sensor $(BIN) -pcap $$f -runs 3 -- -w /tmp/bench-$$k.dnstap -no-progress; \
	done
	@# File input over several workers (internal/parallel): the same
	@# captures with --workers 1 and 2, wall time and CPU.
	@set -e; for k in udp tcp; do for w in 1 2; do \
		echo "== sensor -r testdata/bench/$$k-$(BENCH_N).pcap --workers $$w"; \
		bin/benchrun -sensor $(BIN) -pcap testdata/bench/$$k-$(BENCH_N).pcap -runs 3 -- -w /tmp/bench-$$k-w$$w.dnstap -no-progress --workers $$w; \
	done; done

# The naive loop the README compares with (gopacket + miekg Unpack +
# golang-dnstap + framestream), on the same UDP capture.
bench-naive:
	@mkdir -p testdata/bench
	@test -f testdata/bench/udp-$(BENCH_N).pcap || $(GO) run ./internal/synth/gencap -kind udp -n $(BENCH_N) -o testdata/bench/udp-$(BENCH_N).pcap
	$(GO) build -o bin/naive ./internal/synth/naive
	$(GO) build -o bin/benchrun ./internal/synth/benchrun
	bin/benchrun -sensor bin/naive -pcap testdata/bench/udp-$(BENCH_N).pcap -runs 3 -- -w /tmp/naive.dnstap

# Every fuzz target (go test -fuzz takes one package and one target per run),
# each for FUZZTIME. The seed corpora (every frame of testdata/pcaps) also run
# as plain tests in `make test`.
fuzz:
	@set -e; for pkg in $(FUZZ_PKGS); do \
		list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$list"; exit 1; }; \
		for t in $$(echo "$$list" | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$t for $(FUZZTIME)"; \
			$(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

# What CI runs: each target briefly, on top of its seed corpus.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3s

# The packages' own tests, without the sensor's end-to-end suite. -short is
# not passed: it would skip the analytics memory-bound and lab tests.
unit:
	$(GO) test $(TEST_FLAGS) ./internal/... ./bpf/...

e2e: deps
	$(GO) test -count=1 -v -run 'E2E|GroundTruth|Interop|Flap|Lab|Mirror|SPAN' ./cmd/sensor/... ./internal/lab/...

# Replays a 1M-packet synthetic capture into a mirror port with tcpreplay at
# several rates and reports kernel drops of the sensor (1 and 2 workers) and
# of tcpdump on the same replay. Root; a few minutes.
replay: build deps
	SENSOR_REPLAY=1 $(GO) test -count=1 -v -run '^TestLiveReplay$$' -timeout 30m ./cmd/sensor/e2e

# make replay's own path, briefly: a 20,000-packet capture at top speed, so a
# flag the sensor refuses or a broken lab fails make test, not a later replay.
replay-smoke: build
	SENSOR_REPLAY=1 SENSOR_REPLAY_N=20000 $(GO) test -count=1 -run '^TestLiveReplay$$' -timeout 10m ./cmd/sensor/e2e

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

golden:
	$(GO) test ./internal/emit -run Golden -update
	$(GO) test ./bpf -run Golden -update

clean:
	rm -rf bin out testdata/bench
