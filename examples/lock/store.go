package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// appendFenced appends line to file unless the file's last line carries
// a token above token: the file stands for a store that keeps the
// highest token it has seen and refuses writes with a lower one (a SQL
// row's "WHERE token <= $token", or lockmgr.Fence in memory). A holder
// whose lease ran out while it was paused cannot then overwrite its
// successor's work.
//
// The read and the append are not atomic: the lock keeps holders apart,
// the token check catches a holder whose lease is gone. A real store
// does both in one step.
func appendFenced(file string, token uint64, line string) error {
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if last := lastToken(data); last > token {
		return fmt.Errorf("the file has token %d, above %d", last, token)
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lastToken returns the token of the last "token N by <node>" line, or 0.
func lastToken(data []byte) uint64 {
	data = bytes.TrimRight(data, "\n")
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[i+1:]
	}
	tok, _ := parseLine(string(data))
	return tok
}

// parseLine parses "token N by <node>".
func parseLine(s string) (token uint64, node string) {
	rest, ok := strings.CutPrefix(s, "token ")
	if !ok {
		return 0, ""
	}
	num, node, ok := strings.Cut(rest, " by ")
	if !ok {
		return 0, ""
	}
	token, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, ""
	}
	return token, node
}
