package taskpool

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Sentinel errors of the taskpool package; test with errors.Is. They keep
// their identity across RPC.
var (
	// ErrUnknownCommand is wrapped by Run when the workers it reached do
	// not have the command (their tags were stale) and the retries found
	// none that does.
	ErrUnknownCommand = errors.New("taskpool: unknown command")
	// ErrNoWorker is wrapped by Run when no alive member advertises the
	// command's name.
	ErrNoWorker = errors.New("taskpool: no worker for the command")
	// ErrTimeout is wrapped by Run when its last attempt ran out of its
	// per-attempt timeout.
	ErrTimeout = errors.New("taskpool: attempt timed out")
	// ErrClosed is returned by calls on a closed Pool, and by a worker
	// whose Pool is closing (the submitter then tries another worker).
	ErrClosed = errors.New("taskpool: pool closed")
	// ErrPoolExists is returned by New on a node whose Pool is not
	// closed: a node runs one (share it; close it before making another).
	ErrPoolExists = errors.New("taskpool: the node has a Pool already")
	// ErrBusy is returned by a worker whose pool and queue are full; the
	// submitter tries another worker, then waits with backoff. Run wraps
	// it only when its ctx ended while every worker stayed busy.
	ErrBusy = errors.New("taskpool: worker busy")
	// ErrUnknownTask is returned by Wait for an id that Submit did not
	// return, that was already waited for, or whose result expired.
	ErrUnknownTask = errors.New("taskpool: unknown task id")
)

func init() {
	cluster.RegisterError("taskpool.unknown_command", ErrUnknownCommand)
	cluster.RegisterError("taskpool.no_worker", ErrNoWorker)
	cluster.RegisterError("taskpool.timeout", ErrTimeout)
	cluster.RegisterError("taskpool.closed", ErrClosed)
	cluster.RegisterError("taskpool.busy", ErrBusy)
	cluster.RegisterError("taskpool.unknown_task", ErrUnknownTask)
}

// Wire codes of a task's outcome, carried in runResp.Code.
const (
	codeOK      = ""
	codeFailed  = "failed" // the handler returned an error or panicked
	codeBusy    = "busy"
	codeClosed  = "closed"
	codeUnknown = "unknown"
	codeTimeout = "timeout"
)

// codeErr rebuilds a worker's outcome as an error on the submitter.
func codeErr(worker, name, code, msg string) error {
	switch code {
	case codeOK:
		return nil
	case codeBusy:
		return errtext.Errorf("taskpool: ", "taskpool: %s on %s: %w", name, worker, ErrBusy)
	case codeClosed:
		return errtext.Errorf("taskpool: ", "taskpool: %s on %s: %w", name, worker, ErrClosed)
	case codeUnknown:
		return errtext.Errorf("taskpool: ", "taskpool: %s on %s: %w", name, worker, ErrUnknownCommand)
	case codeTimeout:
		return errtext.Errorf("taskpool: ", "taskpool: %s on %s: %w: %s", name, worker, ErrTimeout, msg)
	}
	return &TaskError{Node: worker, Name: name, Message: msg}
}

// TaskError is a handler's error (or recovered panic) as reported by the
// worker that ran it. Only its text crosses the wire.
type TaskError struct {
	Node    string // the worker
	Name    string // the command
	Message string // the handler's error text
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("taskpool: %s on %s: %s", e.Name, e.Node, e.Message)
}

// Option configures a Pool.
type Option func(*options) error

type options struct {
	size    int
	timeout time.Duration
}

func defaultOptions() options {
	return options{size: runtime.NumCPU(), timeout: 30 * time.Second}
}

// Concurrency sets how many tasks this node runs at once (default
// runtime.NumCPU()). Up to 4×size more wait in a queue; beyond that the
// node refuses tasks with ErrBusy.
func Concurrency(size int) Option {
	return func(o *options) error {
		if size < 1 {
			return fmt.Errorf("taskpool: Concurrency(%d): want at least 1", size)
		}
		o.size = size
		return nil
	}
}

// Timeout sets the default per-attempt timeout of Run (Command.Timeout
// overrides it); default 30 s.
func Timeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("taskpool: Timeout(%v): want a positive duration", d)
		}
		o.timeout = d
		return nil
	}
}

// WithPool is Concurrency.
//
// Deprecated: options are named without a With prefix across the
// packages (election.Group, lockmgr.TTL); use Concurrency.
func WithPool(size int) Option { return Concurrency(size) }

// WithTimeout is Timeout.
//
// Deprecated: use Timeout.
func WithTimeout(d time.Duration) Option { return Timeout(d) }
