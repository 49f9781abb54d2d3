package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Sentinel errors of the cluster package; test with errors.Is.
var (
	// ErrClosed is returned by calls on a node after Close.
	ErrClosed = errors.New("cluster: node closed")
	// ErrUnknownMethod is returned by Call when the remote node has no
	// handler for the method.
	ErrUnknownMethod = errors.New("cluster: unknown method")
	// ErrUnknownNode is returned by Call when no alive member has the name.
	ErrUnknownNode = errors.New("cluster: no alive member with that name")
	// ErrAuth is returned when the secret keys of two nodes do not match,
	// or one has a key and the other none.
	ErrAuth = errors.New("cluster: authentication failed")
	// ErrDuplicateName is returned by Join when another member already
	// uses this node's name at another address.
	ErrDuplicateName = errors.New("cluster: node name already in use")
	// ErrConnLost is returned by Call when the connection to the peer
	// broke before the reply came.
	ErrConnLost = errors.New("cluster: connection lost")
	// ErrBadFrame is returned when a peer sent a frame that could not be
	// decoded; the connection is closed.
	ErrBadFrame = errors.New("cluster: malformed frame")
	// ErrMemberAlive is returned by RemoveFailed for a member that this
	// node sees alive: only a failed member can be removed.
	ErrMemberAlive = errors.New("cluster: member is alive")
	// ErrBadSeed is returned by Join, at once, for a seed it cannot
	// parse; the error names the seed and says why.
	ErrBadSeed = errors.New("cluster: malformed seed")
)

// errCodes maps stable wire codes to sentinel errors, so that a handler's
// error is rebuilt on the caller's side and errors.Is keeps working across
// the wire.
var errCodes = struct {
	mu     sync.RWMutex // protects byCode and order
	byCode map[string]error
	order  []string
}{byCode: map[string]error{}}

func init() {
	for code, err := range map[string]error{
		"cluster.closed":         ErrClosed,
		"cluster.unknown_method": ErrUnknownMethod,
		"cluster.unknown_node":   ErrUnknownNode,
		"cluster.auth":           ErrAuth,
		"cluster.duplicate_name": ErrDuplicateName,
		"cluster.bad_frame":      ErrBadFrame,
		"context.deadline":       context.DeadlineExceeded,
		"context.canceled":       context.Canceled,
	} {
		RegisterError(code, err)
	}
}

// RegisterError makes err travel across RPC as code: when a handler returns
// an error e with errors.Is(e, err), the caller's error satisfies
// errors.Is(callerErr, err) too. Packages register their sentinels at init.
// Codes are part of the protocol: keep them stable. Registering a code twice
// replaces the earlier error. Safe for concurrent use.
func RegisterError(code string, err error) {
	errCodes.mu.Lock()
	defer errCodes.mu.Unlock()
	if _, ok := errCodes.byCode[code]; !ok {
		errCodes.order = append(errCodes.order, code)
	}
	errCodes.byCode[code] = err
}

// codeOf returns the registered code of err, or "".
func codeOf(err error) string {
	errCodes.mu.RLock()
	defer errCodes.mu.RUnlock()
	for _, code := range errCodes.order {
		if errors.Is(err, errCodes.byCode[code]) {
			return code
		}
	}
	return ""
}

func sentinelOf(code string) error {
	errCodes.mu.RLock()
	defer errCodes.mu.RUnlock()
	return errCodes.byCode[code]
}

// RemoteError is an error returned by a handler on another node. It
// unwraps to the registered sentinel of its code, if any.
type RemoteError struct {
	Node    string // the node that returned the error
	Method  string // the method called
	Code    string // the stable code, "" when the error was not registered
	Message string // the remote error's text
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s on %s: %s", e.Method, e.Node, e.Message)
}

// Unwrap returns the sentinel registered for the code, or nil.
func (e *RemoteError) Unwrap() error {
	if e.Code == "" {
		return nil
	}
	return sentinelOf(e.Code)
}
