// Command freeport prints N (default 1) distinct TCP ports that are free on
// 127.0.0.1, one a line, for hack/cluster/up.sh. It holds all N listeners
// until it has them, so the ports differ; a port can still be taken by
// someone else before the caller binds it.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	n := 1
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 || v > 100 {
			fmt.Fprintln(os.Stderr, "usage: freeport [N]  (1 <= N <= 100)")
			os.Exit(2)
		}
		n = v
	}
	listeners := make([]net.Listener, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "freeport:", err)
			os.Exit(1)
		}
		listeners = append(listeners, l)
	}
	for _, l := range listeners {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
}
