# usher: `make test` is the one command that checks everything.
GO ?= go

.PHONY: test services vet build bench fuzz storm

# Starts Redis and PostgreSQL where they are not running (installing them and
# chromium with apt-get where missing), then runs every test with the race
# detector. Browser tests and tests that need Redis and PostgreSQL must run
# here (USHER_REQUIRE_BROWSER, USHER_REQUIRE_SERVICES); browser tests keep
# their screenshots in artifacts/.
test: services
	$(GO) vet ./...
	USHER_REQUIRE_BROWSER=1 USHER_REQUIRE_SERVICES=1 USHER_ARTIFACTS=$(CURDIR)/artifacts $(GO) test -race -count=1 ./...

services:
	./scripts/test-services.sh

build:
	$(GO) build -o bin/usher .

vet:
	$(GO) vet ./...

# Go benchmarks of the hot paths; bench/proxy.sh compares the proxy with nginx.
bench: services
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/ ./gateway/cache/ ./admission/ ./queue/...
	bench/holds.sh

# A short run of every fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzCanonicalPath -fuzztime 30s ./gateway/
	$(GO) test -run '^$$' -fuzz FuzzCookies -fuzztime 30s ./gateway/
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./admission/
	$(GO) test -run '^$$' -fuzz FuzzControl -fuzztime 30s ./gateway/cache/
	$(GO) test -run '^$$' -fuzz FuzzServe -fuzztime 30s ./gateway/cache/
	$(GO) test -run '^$$' -fuzz FuzzParseJWKS -fuzztime 30s ./admission/

# A full on-sale rehearsal: 50,000 fans and 10,000 bots against usher demo
# on Redis and PostgreSQL; reports in artifacts/storm.{json,html}.
storm: services
	bench/storm.sh
