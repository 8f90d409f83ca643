# lgmsd - LGMSNet segmentation daemon.
#   make run     install dependencies if missing, build, serve the default model on 127.0.0.1:8080
#   make test    install dependencies if missing, build, run every test (also under ASan + UBSan)
#   make bench   engine vs PyTorch (and ONNX Runtime) latency, side by side
# The one list of Debian packages is deps.txt.

PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
BINDIR = $(PREFIX)/bin
DATADIR = $(PREFIX)/share/lgmsd
DOCDIR = $(PREFIX)/share/doc/lgmsd
VERSION := 0.1.0
CC ?= gcc
PY := /usr/bin/python3
PKGS := openblas libmicrohttpd jansson libuv spng libisal libturbojpeg inih zlib gnutls hiredis

BUILD := build
WARN := -Wall -Wextra -Werror
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -fno-trapping-math -ffp-contract=fast $(WARN) -DLGMSD_VERSION='"$(VERSION)"' \
	-DLGMSD_MODEL_DIR='"$(PREFIX)/share/lgmsd/models"'
OPT_CFLAGS := -O3
SAN_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
# libnifti2 ships no pkg-config file
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I/usr/include/nifti
# DCMTK's pkg-config file names packages Debian does not depend on; its libraries directly
DCMTK_LIBS := -ldcmseg -ldcmfg -ldcmiod -ldcmimage -ldcmimgle -ldcmjpeg -ldcmjpls -ldcmdata -loflog -lofstd
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lnifti2 $(DCMTK_LIBS) -lstdc++ -lm -lpthread
CXX ?= g++
CXXFLAGS_BASE := -std=c++17 -g -Wall -Wextra -Werror -DLGMSD_VERSION='"$(VERSION)"'
CRIT_CFLAGS = $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS = $(shell pkg-config --libs criterion 2>/dev/null)

ENGINE_SRC := $(wildcard engine/*.c)
API_SRC := $(wildcard api/*.c)
# the one C++ file: DCMTK is C++ only (api/dicom.h is its C face)
CXX_SRC := api/dicom.cc
CONFIG_SRC := $(wildcard config/*.c)
SERVER_SRC := $(wildcard server/*.c)
CLI_SRC := $(filter-out cli/main.c,$(wildcard cli/*.c))
LIB_SRC := $(ENGINE_SRC) $(API_SRC) $(CONFIG_SRC) $(SERVER_SRC) $(CLI_SRC)
# files of the tree built into the binary (api/embed.S .incbin's them)
EMBED_SRC := api/embed.S
EMBEDDED := api/openapi.json web/index.html web/app.js web/app.css
UNIT_SRC := $(wildcard tests/unit/*.c)
HEADERS := $(wildcard engine/*.h engine/*.inc api/*.h config/*.h server/*.h cli/*.h tests/unit/*.h)

OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CXX_SRC:%.cc=$(BUILD)/obj/%.o) $(EMBED_SRC:%.S=$(BUILD)/obj/%.o)
SAN_OBJ := $(LIB_SRC:%.c=$(BUILD)/san/%.o) $(CXX_SRC:%.cc=$(BUILD)/san/%.o) $(EMBED_SRC:%.S=$(BUILD)/san/%.o)

.PHONY: all plugin deps run test test-unit test-asan test-tsan test-python test-integration bench fixtures clean format \
	check-format check-layers config-example fuzz fuzz-smoke install deb deps-build test-deb image test-image test-k8s test-openapi test-orthanc test-cluster soak-cluster test-web config-example load soak valgrind

all: $(BUILD)/lgmsd $(BUILD)/liblgmsd-orthanc.so

# ---- dependencies: install only what is missing (you are root on the target machine) ----
# usage: $(call install_deps,SECTION_REGEX)
define install_deps
	@missing=$$(awk '$$1 ~ /^($(1))$$/ {print $$2}' deps.txt | while read -r p; do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# build: what compiling and running lgmsd needs (make run); test: the rest make test needs
$(BUILD)/.deps-build: deps.txt
	@mkdir -p $(BUILD)
	$(call install_deps,build)
	@touch $@

$(BUILD)/.deps: deps.txt | $(BUILD)/.deps-build
	@mkdir -p $(BUILD)
	$(call install_deps,build|test)
	@# Debian's nodejs comes without npm; a NodeSource nodejs brings its own (and conflicts with Debian's)
	@command -v npm >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
	@touch $@

deps: $(BUILD)/.deps

deps-build:
	$(call install_deps,build)

# ---- build ----
$(BUILD)/obj/%.o: %.c $(HEADERS) | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(HEADERS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) $(PKG_CFLAGS) $(CRIT_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cc api/dicom.h api/image.h api/options.h api/status.h | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_BASE) $(OPT_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.cc api/dicom.h api/image.h api/options.h api/status.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_BASE) $(SAN_CFLAGS) -c $< -o $@

# ---- the Orthanc plugin (orthanc/): a shared object Orthanc loads; it reuses api/base64.c ----
PLUGIN_SRC := orthanc/plugin.c api/base64.c api/status.c
$(BUILD)/liblgmsd-orthanc.so: $(PLUGIN_SRC) api/base64.h api/status.h api/parallel.h | $(BUILD)/.deps-build
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) -fPIC -shared -fvisibility=hidden $(PLUGIN_SRC) -o $@ -ljansson -lpthread

plugin: $(BUILD)/liblgmsd-orthanc.so

# the embedded files, once per build flavour (paths in embed.S are relative to the top)
$(BUILD)/%/api/embed.o: api/embed.S $(EMBEDDED)
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/lgmsd: $(OBJ) $(BUILD)/obj/cli/main.o
	$(CC) $(OPT_CFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS)

$(BUILD)/lgmsd-san: $(SAN_OBJ) $(BUILD)/san/cli/main.o
	$(CC) $(SAN_CFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS)

# the unit tests count the project's own allocations (tests/unit/alloc_counter.c)
WRAP_ALLOC := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc

$(BUILD)/test-unit: $(OBJ) $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
	$(CC) $(OPT_CFLAGS) $(WRAP_ALLOC) $^ -o $@ $(PKG_LIBS) $(CRIT_LIBS)

$(BUILD)/obj/tests/%.o: tests/%.c $(HEADERS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) $(PKG_CFLAGS) $(CRIT_CFLAGS) -c $< -o $@

$(BUILD)/test-unit-san: $(SAN_OBJ) $(UNIT_SRC:%.c=$(BUILD)/san/%.o)
	$(CC) $(SAN_CFLAGS) $(WRAP_ALLOC) $^ -o $@ $(PKG_LIBS) $(CRIT_LIBS)

# ---- ThreadSanitizer: the engine's thread teams ----
TSAN_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/tsan/%.o)

$(BUILD)/tsan/%.o: %.c $(HEADERS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=thread -DLGMS_NO_CLONES $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/tsan/%.o: %.cc api/dicom.h api/image.h api/options.h api/status.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_BASE) -O1 -fsanitize=thread -c $< -o $@

$(BUILD)/test-tsan: tests/tsan/engine_threads.c $(TSAN_OBJ)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=thread $(PKG_CFLAGS) $^ -o $@ $(PKG_LIBS)

# the volume job table and the worker pool: a job's completion raced against DELETE and expiry
TSAN_JOBS_OBJ := $(TSAN_OBJ) $(API_SRC:%.c=$(BUILD)/tsan/%.o) $(CXX_SRC:%.cc=$(BUILD)/tsan/%.o) $(BUILD)/tsan/api/embed.o $(BUILD)/tsan/config/config.o \
	$(BUILD)/tsan/server/pool.o $(BUILD)/tsan/server/jobs.o
$(BUILD)/test-tsan-jobs: tests/tsan/jobs_race.c tests/unit/jobs_race.h $(TSAN_JOBS_OBJ)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=thread $(PKG_CFLAGS) $(filter %.c %.o,$^) -o $@ $(PKG_LIBS)

# setarch -R: TSan needs the fixed memory layout that ASLR on newer kernels breaks
test-tsan: $(BUILD)/test-tsan $(BUILD)/test-tsan-jobs
	OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 setarch -R ./$(BUILD)/test-tsan tests/fixtures/official-1class.lgms
	TSAN_OPTIONS=halt_on_error=1 setarch -R ./$(BUILD)/test-tsan-jobs

# ---- fuzzing (libFuzzer, clang 14, ASan + UBSan) ----
FUZZ_CC := clang-14
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined $(WARN) -Wno-unused-command-line-argument
FUZZ_CXX := clang++-14
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o) $(CXX_SRC:%.cc=$(BUILD)/fuzzobj/%.o) $(BUILD)/fuzzobj/api/embed.o
FUZZERS := image pngdiff json options config model multipart nifti dicom
.SECONDARY: $(FUZZ_OBJ)
FUZZ_SECONDS ?= 300

$(BUILD)/fuzzobj/%.o: %.c $(HEADERS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c $< -o $@

# vptr checks would need the C++ sanitizer runtime, which the C link of the fuzzers leaves out
$(BUILD)/fuzzobj/%.o: %.cc api/dicom.h api/image.h api/options.h api/status.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CXXFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize=vptr \
		-fno-sanitize-recover=undefined -c $< -o $@

$(BUILD)/fuzz-%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) $^ -o $@ $(PKG_LIBS)

fuzz: $(FUZZERS:%=$(BUILD)/fuzz-%)
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke: $(FUZZERS:%=$(BUILD)/fuzz-%)
	bash tests/fuzz/run.sh 20

# ---- run ----
# make run [HOST=addr] [PORT=n] [ARGS="--workers 1 ..."]: flags only for what is given on the
# command line, so LGMSD_* variables and --config FILE (in ARGS) apply as they would to lgmsd
HOST ?=
PORT ?=
ARGS ?=
given = $(filter command line,$(origin $(1)))
run: $(BUILD)/lgmsd
	./$(BUILD)/lgmsd serve $(if $(call given,HOST),--host $(HOST)) $(if $(call given,PORT),--port $(PORT)) $(ARGS)

# ---- tests ----
test: check-format check-layers test-unit test-asan test-tsan test-python test-integration test-orthanc test-cluster \
	soak-cluster test-web fuzz-smoke test-k8s test-openapi test-deb
	@echo "make test: all suites passed"

test-unit: $(BUILD)/test-unit | $(BUILD)/.deps
	cd tests && ../$(BUILD)/test-unit --jobs 1

test-asan: $(BUILD)/test-unit-san | $(BUILD)/.deps
	cd tests && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		../$(BUILD)/test-unit-san --jobs 1

test-python: $(BUILD)/lgmsd | $(BUILD)/.deps
	$(PY) -m unittest discover -s tests/python -p 'test_*.py' -v

test-integration: $(BUILD)/lgmsd $(BUILD)/lgmsd-san $(BUILD)/jpeg-scans | $(BUILD)/.deps
	LGMSD_BIN=$(BUILD)/lgmsd bash tests/integration/run.sh
	LGMSD_BIN=$(BUILD)/lgmsd-san LGMSD_SANITIZED=1 bash tests/integration/run.sh

# a progressive JPEG of 2082 scans for the hostile-input tests (libjpeg's API, not cjpeg's 100-scan scripts)
$(BUILD)/jpeg-scans: tests/tools/jpeg_scans.c | $(BUILD)/.deps
	$(CC) -std=c11 -O2 $(WARN) $< -o $@ -ljpeg

# ---- engine fixtures and benchmarks ----
fixtures: $(BUILD)/.deps
	$(PY) tools/make_fixtures.py

# this CPU's FMA peak per core (AVX2 and AVX-512), which bench.py reports efficiency against
$(BUILD)/fma-peak: tools/fma_peak.c | $(BUILD)/.deps-build
	$(CC) -std=c11 -O2 $(WARN) $< -o $@

bench: $(BUILD)/lgmsd $(BUILD)/fma-peak
	$(PY) tools/bench.py --lgmsd $(BUILD)/lgmsd --fma-peak $(BUILD)/fma-peak
	$(PY) tools/bench_server.py --lgmsd $(BUILD)/lgmsd

# ---- install (build with the same PREFIX you install with) ----
install: $(BUILD)/lgmsd $(BUILD)/liblgmsd-orthanc.so $(BUILD)/liblgmsd-orthanc.so
	install -D -m 0755 $(BUILD)/lgmsd $(DESTDIR)$(BINDIR)/lgmsd
	install -D -m 0644 models/lgmsnet-phantom.lgms $(DESTDIR)$(DATADIR)/models/lgmsnet-phantom.lgms
	install -D -m 0644 $(BUILD)/liblgmsd-orthanc.so $(DESTDIR)$(PREFIX)/lib/lgmsd/liblgmsd-orthanc.so
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/lgmsd
	# the packaged configuration, written from the settings table as config/lgmsd.ini is
	./$(BUILD)/lgmsd serve --print-config --model default=$(DATADIR)/models/lgmsnet-phantom.lgms \
		> $(DESTDIR)$(SYSCONFDIR)/lgmsd/lgmsd.ini
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/lgmsd/lgmsd.ini
	sed 's|/usr/bin/lgmsd|$(BINDIR)/lgmsd|; s|/etc/lgmsd|$(SYSCONFDIR)/lgmsd|; s|/usr/share/doc/lgmsd|$(DOCDIR)|' \
		docker/systemd/lgmsd.service > $(BUILD)/lgmsd.service
	install -D -m 0644 $(BUILD)/lgmsd.service $(DESTDIR)$(UNITDIR)/lgmsd.service
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/man/man1
	gzip -9n < docs/lgmsd.1 > $(DESTDIR)$(PREFIX)/share/man/man1/lgmsd.1.gz

# ---- Debian package: its own build with PREFIX=/usr, packed with dpkg-deb ----
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB := $(BUILD)/lgmsd_$(VERSION)_$(DEB_ARCH).deb
deb: $(BUILD)/.deps
	$(MAKE) BUILD=$(BUILD)/deb-build PREFIX=/usr $(BUILD)/deb-build/lgmsd $(BUILD)/deb-build/liblgmsd-orthanc.so
	rm -rf $(BUILD)/deb-root
	$(MAKE) BUILD=$(BUILD)/deb-build PREFIX=/usr DESTDIR=$(CURDIR)/$(BUILD)/deb-root install
	strip --strip-unneeded $(BUILD)/deb-root/usr/bin/lgmsd $(BUILD)/deb-root/usr/lib/lgmsd/liblgmsd-orthanc.so
	install -D -m 0644 docker/deb/copyright $(BUILD)/deb-root/usr/share/doc/lgmsd/copyright
	printf 'lgmsd (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- lgmsd developers <lgmsd@example.org>  %s\n' \
		'$(VERSION)' '$(VERSION)' "$$(date -R)" | gzip -9n > $(BUILD)/deb-root/usr/share/doc/lgmsd/changelog.gz
	install -d $(BUILD)/deb-root/DEBIAN
	install -m 0755 docker/deb/postinst docker/deb/prerm docker/deb/postrm $(BUILD)/deb-root/DEBIAN/
	echo /etc/lgmsd/lgmsd.ini > $(BUILD)/deb-root/DEBIAN/conffiles
	deps=$$(sh docker/deb/depends.sh $(BUILD)/deb-root/usr/bin/lgmsd); \
	size=$$(du -sk --exclude=DEBIAN $(BUILD)/deb-root | cut -f1); \
	sed "s/@VERSION@/$(VERSION)/; s/@ARCH@/$(DEB_ARCH)/; s/@SIZE@/$$size/; s/@DEPENDS@/$$deps/" \
		docker/deb/control.in > $(BUILD)/deb-root/DEBIAN/control
	dpkg-deb --build --root-owner-group $(BUILD)/deb-root $(DEB)
	@echo "built $(DEB)"

image:
	$(call install_deps,image)
	bash docker/build-image.sh lgmsd:$(VERSION)

test-image: image
	bash docker/test-image.sh lgmsd:$(VERSION)

test-k8s: | $(BUILD)/.deps
	bash tests/k8s/run.sh

# the Orthanc plugin between a real Orthanc and a real lgmsd, in a network namespace (root)
test-orthanc: $(BUILD)/lgmsd $(BUILD)/liblgmsd-orthanc.so | $(BUILD)/.deps
	LGMSD_BIN=$(BUILD)/lgmsd bash tests/orthanc/run.sh

# the web page in Debian's headless Chromium (puppeteer-core, axe-core); screenshots in build/web/
test-web: $(BUILD)/lgmsd | $(BUILD)/.deps
	LGMSD_BIN=$(BUILD)/lgmsd bash tests/web/run.sh

# the redis job store: a real redis-server and two replicas on loopback; the replicas run
# the sanitized build (the store's C meets the network's failures here)
test-cluster: $(BUILD)/lgmsd-san | $(BUILD)/.deps
	LGMSD_BIN=$(BUILD)/lgmsd-san LGMSD_SANITIZED=1 bash tests/cluster/run.sh

# 50 jobs from 4 clients on 2 replicas, one of them killed and restarted twice (~75 s)
soak-cluster: $(BUILD)/lgmsd | $(BUILD)/.deps
	LGMSD_BIN=$(BUILD)/lgmsd $(PY) tests/cluster/soak.py

# the OpenAPI document: lint clean, and a client generated from it calls the daemon
test-openapi: $(BUILD)/lgmsd | $(BUILD)/.deps
	LGMSD_BIN=$(BUILD)/lgmsd bash tests/openapi/run.sh

# ---- load, soak, valgrind (loopback only, bounded in time; not part of make test) ----
load: $(BUILD)/lgmsd
	$(PY) tools/load.py --lgmsd $(BUILD)/lgmsd --floods

soak: $(BUILD)/lgmsd
	$(PY) tools/load.py --lgmsd $(BUILD)/lgmsd --soak-seconds $${SOAK_SECONDS:-600}

valgrind: $(BUILD)/lgmsd
	bash tests/valgrind/run.sh

test-deb: deb
	bash tests/deb/run.sh $(DEB)

# ---- housekeeping ----
# config/lgmsd.ini: the example that works from the top of a checkout, written from the
# settings table (tests/python/test_config_files.py checks it has not drifted)
config-example: $(BUILD)/lgmsd
	./$(BUILD)/lgmsd serve --print-config --model default=models/lgmsnet-phantom.lgms > config/lgmsd.ini

format:
	clang-format -i $(LIB_SRC) $(CXX_SRC) cli/main.c orthanc/*.c $(UNIT_SRC) $(HEADERS) tests/fuzz/*.c tests/tsan/*.c \
		tests/tools/*.c

# the dependency rule: cli -> server -> api -> engine (and config), nothing pointing up
check-layers: | $(BUILD)/.deps
	$(PY) tools/check_layers.py

check-format: | $(BUILD)/.deps
	clang-format --dry-run --Werror $(LIB_SRC) $(CXX_SRC) cli/main.c orthanc/*.c $(UNIT_SRC) $(HEADERS) tests/fuzz/*.c \
		tests/tsan/*.c tests/tools/*.c

clean:
	rm -rf $(BUILD)/obj $(BUILD)/san $(BUILD)/lgmsd $(BUILD)/lgmsd-san $(BUILD)/test-unit $(BUILD)/test-unit-san
