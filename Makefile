# raftkv — see README.md.
GO ?= go
BIN := bin

.PHONY: all build test test-short fmt-check vet tidy-check test-linearizability clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

tidy-check:
	@cp go.mod /tmp/raftkv-go.mod.bak; cp go.sum /tmp/raftkv-go.sum.bak; \
	$(GO) mod tidy; \
	if ! cmp -s go.mod /tmp/raftkv-go.mod.bak || ! cmp -s go.sum /tmp/raftkv-go.sum.bak; then \
		cp /tmp/raftkv-go.mod.bak go.mod; cp /tmp/raftkv-go.sum.bak go.sum; \
		echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; fi

# test is the one command that passes the tests (CI runs exactly this).
test: fmt-check vet tidy-check
	$(GO) test -race -timeout 20m ./...

clean:
	rm -rf $(BIN)
