// Command realproc is the program of the real-process fault suite
// (package realnet): each node of the suite is one realproc process in
// a network namespace of its own, and so is the store that fences their
// writes.
//
//	realproc node -name n1 -bind 10.213.0.11:7946 -join 10.213.0.12:7946,... -key-file K -history n1.jsonl -store 10.213.0.2:9000
//	realproc store -bind 10.213.0.2:9000 -history store.jsonl
//	realproc dial -addr 10.213.0.12:7946 -timeout 1s   (exit 0: the path is open; prints the handshake's time)
//	realproc delay -queue 7 -min 10ms -max 80ms        (in the bridge's namespace)
//
// Every event goes to the history file as one JSON line, written with
// one unbuffered write, so a kill -9 loses nothing written.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: realproc node|store|dial|delay [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "node":
		err = runNode(os.Args[2:])
	case "store":
		err = runStore(os.Args[2:])
	case "dial":
		err = runDial(os.Args[2:])
	case "delay":
		err = runDelay(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want node, store, dial or delay)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "realproc:", err)
		os.Exit(1)
	}
}
