// Package integration holds the kernel-level tests that run inside the
// testbed VM (test/vm/run): build tag "integration". `make test` builds them
// on the host and runs the binary in the VM.
package integration
