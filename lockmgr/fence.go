package lockmgr

import (
	"sync"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Fence guards a resource written under locks: it remembers the highest
// token seen per id and refuses older ones. The zero value is ready to
// use. Safe for concurrent use. It keeps one entry per id forever.
type Fence struct {
	mu   sync.Mutex // protects high
	high map[string]uint64
}

// Check admits a write for id with token: it returns ErrStaleToken if a
// higher token was seen for id, else records token and returns nil. An
// equal token is admitted (one holder writes several times).
func (f *Fence) Check(id string, token uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.high[id]; token < h {
		return errtext.Errorf("lockmgr: ", "lockmgr: fence %q: token %d below %d: %w", id, token, h, ErrStaleToken)
	}
	if f.high == nil {
		f.high = map[string]uint64{}
	}
	f.high[id] = token
	return nil
}
