# The two commands of the README: `make run` and `make check`. Both install what is missing first.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CTEST_TIMEOUT ?= 300

.PHONY: all setup build run check test bench clean build-EmotionFunction build-StoryFunction

all: build

setup:
	@tools/setup.sh core

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: setup $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/mlfaas serve --template template.yaml

# `sam build` (template.yaml, BuildMethod: makefile) calls this with ARTIFACTS_DIR set.
build-EmotionFunction: build
	$(BUILD_DIR)/mlfaas package --template template.yaml --function EmotionFunction --dir "$(ARTIFACTS_DIR)"

build-StoryFunction: build
	$(BUILD_DIR)/mlfaas package --template template.yaml --function StoryFunction --dir "$(ARTIFACTS_DIR)"

check: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout $(CTEST_TIMEOUT) -j $(JOBS)

bench: build
	@tools/setup.sh core bench
	bench/run_all.sh

clean:
	rm -rf $(BUILD_DIR)
