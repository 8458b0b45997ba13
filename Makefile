# kubelet-lite: see README.md.
.PHONY: all build run test unit clean

all: build

build:
	hack/build.sh

# Builds everything and runs the example static pods on this machine.
run:
	hack/run-example.sh

# Runs every test level: unit, host integration, host e2e, node VM.
test:
	hack/test.sh

unit:
	KL_TEST_LEVELS=unit hack/test.sh

clean:
	rm -rf bin

# A local cluster on 127.0.0.1 with kubelet-lite as its node: see hack/cluster.
# KL_CLUSTER_DIR picks its dir; UP_FLAGS passes flags such as --node NAME.
.PHONY: up down
up:
	hack/cluster/up.sh $(UP_FLAGS)

down:
	hack/cluster/down.sh
