# crosswatch: the two commands a newcomer needs are 'make demo' and 'make test'.
# Both install what is missing (Debian packages included) by themselves.
GO      ?= go
BIN     := bin
TIMEOUT ?= 40m

.PHONY: all deps build demo test test-short models clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(GO) build -o $(BIN)/ ./edge/cmd/crosswatch-edge ./aggregator/cmd/crosswatch-aggregator

# Synthesise a clip, start the aggregator (embedded broker, SQLite), replay the clip through the
# edge, print the site table and stop. KEEP=1 leaves the aggregator running until Ctrl-C.
demo: build
	@bash scripts/demo.sh

# The whole suite: unit, adapter (SQLite, real Mosquitto on loopback) and end-to-end tests.
test: deps
	$(GO) vet ./...
	CI=$${CI:-} $(GO) test -count=1 -timeout $(TIMEOUT) ./...

test-short: deps
	$(GO) test -count=1 -short ./...

models:
	@bash models/install.sh

clean:
	rm -rf $(BIN) out
