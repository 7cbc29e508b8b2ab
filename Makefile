# Thin wrapper over meson/ninja, as QEMU does.  Every target first makes
# sure the Debian packages the build needs are installed.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=

.PHONY: all deps check check-asan check-plain check-kvm-tcg demo bench clean \
	install fuzz

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@sh scripts/deps.sh

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_OPTS)

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined \
		-Db_lundef=false $(MESON_OPTS)

# The whole suite, then once more under ASan+UBSan.
check: check-plain check-asan
	@python3 scripts/summary.py $(BUILD) $(ASAN_BUILD)

check-plain: all
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

check-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2

# The KVM tests without /dev/kvm: KVM nested in a QEMU TCG machine.
check-kvm-tcg: all
	sh scripts/kvm-tcg.sh $(BUILD)

demo: all
	sh scripts/demo.sh $(BUILD)

bench: all
	sh scripts/bench.sh $(BUILD)

# Each libFuzzer harness for FUZZ_SECONDS (default 60); docs/fuzzing.md.
FUZZ_SECONDS ?= 60
fuzz:
	@sh scripts/deps.sh fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh scripts/fuzz.sh

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
