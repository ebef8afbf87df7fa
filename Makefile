# usher: `make test` is the one command that checks everything.
GO ?= go

.PHONY: test services vet build bench fuzz

# Starts Redis and PostgreSQL where they are not running (installing them with
# apt-get where missing), then runs every test with the race detector.
test: services
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

services:
	./scripts/test-services.sh

build:
	$(GO) build -o bin/usher .

vet:
	$(GO) vet ./...

# Go benchmarks of the hot paths; bench/proxy.sh compares the proxy with nginx.
bench: services
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/ ./admission/ ./queue/...

# A short run of every fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzCanonicalPath -fuzztime 30s ./gateway/
	$(GO) test -run '^$$' -fuzz FuzzCookies -fuzztime 30s ./gateway/
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./admission/
	$(GO) test -run '^$$' -fuzz FuzzParseJWKS -fuzztime 30s ./admission/
