# The container image (docker/Dockerfile), built with podman; included by the Makefile.
#   make image        pgml:1.3-pg17, pgml:1.3 and pgml:latest: PostgreSQL 17 on Debian 13 trixie
#   make image IMAGE_DEBIAN=bookworm   pgml:1.3-pg15: PostgreSQL 15 on Debian 12
#   make test-image   the build through its test stage (the server in the build runs demo/demo.sql
#                     and pgml.embed), then the same tags
# The base is a local debootstrapped $(IMAGE_DEBIAN) (docker/make-base.sh, made once and reused) unless
# IMAGE_BASE names another (IMAGE_BASE=docker.io/library/debian:trixie-slim where a registry
# can be reached). `podman run` is refused in this sandbox and RUN steps need chroot isolation,
# hence the flags below.

PODMAN     ?= podman
IMAGE_NAME ?= pgml
IMAGE_TAG  ?= 1.3
# The Debian release and its own PostgreSQL major; the default is the newest.
IMAGE_DEBIAN ?= trixie
IMAGE_PG_MAJOR = $(if $(filter bookworm,$(IMAGE_DEBIAN)),15,$(if $(filter trixie,$(IMAGE_DEBIAN)),17,$(error IMAGE_DEBIAN is trixie or bookworm)))
IMAGE_BASE ?= localhost/pgml-base-$(IMAGE_DEBIAN)
IMAGE_LOCAL_BASE = localhost/pgml-base-$(IMAGE_DEBIAN)
IMAGE_BUILD_FLAGS ?=

# pip's sources for the build: this machine's own (environment or pip config), else the
# Dockerfile's default (the pytorch CPU index). Local folders among them are mounted read-only
# (a file:// index .../simple is mounted from its parent, where its files are), and so is pip's
# CA bundle (an HTTPS proxy's own CA), at /opt/pgml-build/pip-ca.pem.
IMAGE_PIP_FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell pip config get global.find-links 2>/dev/null))
IMAGE_PIP_EXTRA_INDEX_URL ?= $(or $(PIP_EXTRA_INDEX_URL),$(shell pip config get global.extra-index-url 2>/dev/null))
IMAGE_PIP_CERT ?= $(or $(PIP_CERT),$(shell pip config get global.cert 2>/dev/null))
image_pip_dirs = $(sort $(filter /%,$(IMAGE_PIP_FIND_LINKS) \
    $(patsubst %/simple,%,$(patsubst %/simple/,%,$(patsubst file://%,%,$(IMAGE_PIP_EXTRA_INDEX_URL))))))
image_pip_flags = $(if $(strip $(IMAGE_PIP_FIND_LINKS)),--build-arg "PIP_FIND_LINKS=$(strip $(IMAGE_PIP_FIND_LINKS))") \
    $(if $(strip $(IMAGE_PIP_EXTRA_INDEX_URL)),--build-arg "PIP_EXTRA_INDEX_URL=$(strip $(IMAGE_PIP_EXTRA_INDEX_URL))") \
    $(foreach d,$(image_pip_dirs),$(if $(wildcard $(d)),-v $(d):$(d):ro)) \
    $(if $(wildcard $(IMAGE_PIP_CERT)),-v $(IMAGE_PIP_CERT):/opt/pgml-build/pip-ca.pem:ro --build-arg PIP_CERT=/opt/pgml-build/pip-ca.pem)

image_podman_build = $(PODMAN) build --isolation=chroot --network=host --build-arg BASE=$(IMAGE_BASE) \
    --build-arg DEBIAN=$(IMAGE_DEBIAN) --build-arg PG_MAJOR=$(IMAGE_PG_MAJOR) \
    $(image_pip_flags) -f docker/Dockerfile $(IMAGE_BUILD_FLAGS)

# The venv and src stages are built first, as images (pgml-stage:venv, :src); the image stage
# mounts them by ID (PGML_VENV_FROM in the Dockerfile), so make install runs again only when the
# tree changes (src leaves out docker/ but image.mk, which the Makefile includes: the entrypoint
# and the test are later COPY steps).
# image_stages sets $$ids for image_build_from, in the same shell line.
image_stages = ids=$$(mktemp -d) && trap 'rm -rf "$$ids"' EXIT && \
	echo "== stage venv" && $(image_podman_build) --iidfile "$$ids/venv" --target venv -t $(IMAGE_NAME)-stage:venv-$(IMAGE_DEBIAN) . && \
	{ cat .dockerignore; echo docker; echo "!docker/image.mk"; } > "$$ids/src.ignore" && \
	echo "== stage src" && $(image_podman_build) --ignorefile "$$ids/src.ignore" --iidfile "$$ids/src" \
	    --target src -t $(IMAGE_NAME)-stage:src-$(IMAGE_DEBIAN) .
image_build_from = $(image_podman_build) --build-arg PGML_VENV_FROM="$$(sed 's/^sha256://' "$$ids/venv")" \
	--build-arg PGML_SRC_FROM="$$(sed 's/^sha256://' "$$ids/src")"
# pgml:<tag>-pg<major> always; pgml:<tag> and :latest for the default (newest) release only.
image_tags = -t $(IMAGE_NAME):$(IMAGE_TAG)-pg$(IMAGE_PG_MAJOR) \
    $(if $(filter trixie,$(IMAGE_DEBIAN)),-t $(IMAGE_NAME):$(IMAGE_TAG) -t $(IMAGE_NAME):latest)
image_list = $(PODMAN) images --filter reference=$(IMAGE_NAME) --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'

.PHONY: image test-image image-base

image-base:
	@if [ "$(IMAGE_BASE)" = "$(IMAGE_LOCAL_BASE)" ]; then PODMAN="$(PODMAN)" bash docker/make-base.sh $(IMAGE_LOCAL_BASE) $(IMAGE_DEBIAN); fi

image: image-base
	@$(image_stages) && \
	echo "== stage image" && $(image_build_from) --target image $(image_tags) .
	@$(image_list)

# The test stage (run every time), then the image stage it tested (the same stages: from the
# cache) tagged.
test-image: image-base
	@$(image_stages) && \
	echo "== stage test" && $(image_build_from) --target test --build-arg PGML_TEST_RUN="$$(date -u +%FT%TZ)" \
	    -t $(IMAGE_NAME)-test:$(IMAGE_TAG)-pg$(IMAGE_PG_MAJOR) . && \
	echo "== tagging the tested image" && $(image_build_from) --target image -q $(image_tags) .
	@$(image_list)
