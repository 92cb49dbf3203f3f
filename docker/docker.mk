# docker.mk: the Docker targets, included from the Makefile.
#
#   make docker-image   build raftkv:latest and raftkv:$(git describe --always --dirty)
#                       FROM scratch out of static binaries (nothing is pulled)
#   make test-docker    build the image, then run the docker backend's Go tests and
#                       the docker CI scenarios (harness/scenarios/ci/docker-*.yaml)
#
# Without a reachable Docker engine test-docker prints a SKIPPED notice and
# succeeds, unless CI=true, where it fails.
GO ?= go
DOCKER ?= docker
DOCKER_TAG := $(shell git describe --always --dirty 2>/dev/null || echo dev)
DOCKER_SCENARIOS := $(wildcard harness/scenarios/ci/docker-*.yaml)

.PHONY: docker-image test-docker

docker-image:
	GO="$(GO)" DOCKER="$(DOCKER)" sh docker/build.sh raftkv:latest raftkv:$(DOCKER_TAG)

test-docker:
	@if ! $(DOCKER) version --format '{{.Server.Version}}' >/dev/null 2>&1; then \
		if [ "$$CI" = true ]; then \
			echo "test-docker: FAIL: no Docker engine answers ($(DOCKER) version), and CI=true requires one" >&2; exit 1; \
		fi; \
		echo "test-docker: SKIPPED: no Docker engine answers ($(DOCKER) version); set CI=true to make this a failure" >&2; exit 0; \
	fi; \
	set -ex; \
	GO="$(GO)" DOCKER="$(DOCKER)" sh docker/build.sh raftkv:latest raftkv:$(DOCKER_TAG); \
	RAFTKV_DOCKER_IMAGE=raftkv:latest $(GO) test -count=1 -timeout 10m ./harness/docker/; \
	RAFTKV_DOCKER_IMAGE=raftkv:latest $(GO) run ./cmd/harness run --store store $(DOCKER_SCENARIOS)
