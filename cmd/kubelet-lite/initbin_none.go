//go:build !embedinit

package main

// initBinary is empty in builds without the embedinit tag (go build, go
// test): the agent binary then serves as the containers' PID 1 itself.
var initBinary []byte
