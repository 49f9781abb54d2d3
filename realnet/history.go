package realnet

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Event is one line of a process's history.
type Event struct {
	T     string `json:"t"`               // "start", "grant", "end", "err", "write", "lead", "unlead", "clock" (node); "accept", "refuse" (store)
	Node  string `json:"node,omitempty"`  // the node's name
	PID   int    `json:"pid,omitempty"`   // the process: one incarnation of the node
	ID    string `json:"id,omitempty"`    // the lock id
	Token uint64 `json:"token,omitempty"` // a grant's token, or a lead's term
	// Called and At: for a grant, when Acquire was called and when it
	// returned; for any other event, At is when it happened.
	Called time.Time `json:"called,omitzero"`
	At     time.Time `json:"at"`
	// Err is an Acquire's error kind ("err"), or the store's answer to a
	// refused write ("write").
	Err string `json:"err,omitempty"`
	OK  bool   `json:"ok,omitempty"` // "write": the store accepted it; "end": the client released the lock (not lost, nor killed)
	// A "clock" reading, taken between At and Done: the Interval, Now,
	// the reference term its bound rests on (Token), whether this node
	// is the reference, and its offset from its physical clock.
	Done     time.Time     `json:"done,omitzero"`
	Earliest time.Time     `json:"earliest,omitzero"`
	Latest   time.Time     `json:"latest,omitzero"`
	Now      time.Time     `json:"now,omitzero"`
	Ref      bool          `json:"ref,omitempty"`
	Offset   time.Duration `json:"offset,omitempty"`
}

// Writer appends events to a history file, one unbuffered write per
// line, so that a process killed at any moment leaves every line it
// wrote whole.
type Writer struct {
	mu sync.Mutex
	f  *os.File
}

// Create opens path for appending, creating it.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f}, nil
}

// Write appends e.
func (w *Writer) Write(e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.f.Write(append(b, '\n'))
	return err
}

// Close closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// ReadDir reads every history file (*.jsonl) of dir. A last line cut
// short (a write that a kill interrupted cannot be, but a full disk can)
// is an error, naming the file.
func ReadDir(dir string) ([]Event, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var all []Event
	for _, p := range paths {
		evs, err := readFile(p)
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
	}
	return all, nil
}

func readFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var evs []Event
	r := bufio.NewReader(f)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(b) > 0 {
				return nil, fmt.Errorf("%s:%d: line cut short: %q", path, line, b)
			}
			return evs, nil
		}
		if err != nil {
			return nil, err
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		evs = append(evs, e)
	}
}
